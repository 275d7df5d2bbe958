# timeline.gp: the gnuplot template behind `allocsim plot` (harness/plot.c fills it in).
#
# The plot driver replaces the @SETTINGS@ line with the figure's numbers (terminal, output,
# data file, device list, units, capacities, peaks, phases) and leaves the rest as written
# here, so the look of every timeline picture is decided in this file. Each device gets a
# panel of two strips sharing the time axis:
#   upper strip: stacked areas DRAM, TRACE, L1, L1_SMALL on a linear axis; the top edge is
#                the device's total, the dot marks its peak;
#   lower strip: each region's own bytes as a line on a log axis with its capacity dashed,
#                so a 12 MiB TRACE buffer next to GiBs of weights, and a region's headroom,
#                stay readable.
# Data file: one block per panel (gnuplot index 0, 1, ...), columns time DRAM TRACE L1
# L1_SMALL in raw units (time in the timeline's unit, sizes in bytes), already expanded
# into steps (a value holds until the next row of its device).

@SETTINGS@

c_dram = "#4477aa"; c_trace = "#cc3311"; c_l1 = "#228833"; c_l1s = "#ccbb44"
c_phase = "#777777"; c_peak = "#000000"
# L1 churns during decode; a translucent line keeps TRACE, drawn over it, readable.
c_l1_line = "#60228833"

cell_w = 1.0 / NCOLS
cell_h = (1.0 - top_band) / NROWS
clamp(v) = (v <= 0) ? NaN : ((v < logmin) ? logmin : v)
capline(c) = (c > 0) ? c : NaN

set style fill solid 0.9 noborder
set style textbox opaque noborder margins 0.5, 0.5
set border lw 0.8
set grid xtics ytics lc rgb "#dddddd" lw 0.6 dt 1
set multiplot title figure_title font ",13"
set xrange [xmin / tscale : xmax / tscale]

do for [i = 1:NDEV] {
    col = (i - 1) % NCOLS
    row = (i - 1) / NCOLS
    x0 = col * cell_w
    y0 = (1.0 - top_band) - (row + 1) * cell_h
    split = y0 + cell_h * lower_frac

    # ---- upper strip: stacked areas, peak, phase labels ----
    unset logscale y
    set origin x0, split
    set size cell_w, cell_h * (1.0 - lower_frac)
    set lmargin 10; set rmargin 3; set tmargin 2; set bmargin 0
    set title panel_title[i] offset 0, -0.6
    set format x ""
    unset xlabel
    set yrange [0 : ymax / yscale]
    set ytics auto
    set format y "%g"
    set ylabel sprintf("in use (%s)", yunit) offset 1, 0
    unset label
    unset arrow
    if (i == 1) { set label 90 legend_text at screen 0.99, screen 1.0 - top_band * 0.62 right font ",8" }
    do for [p = 1:NPHASE] {
        set arrow (100 + p) from phase_t[p] / tscale, graph 0 to phase_t[p] / tscale, graph 1 nohead lc rgb c_phase dt 2 lw 1 front
    }
    do for [p = 1:NPLABEL] {
        set label (100 + p) plabel_text[p] at plabel_t[p] / tscale, graph 0.98 rotate by 90 right offset -0.3, 0 font ",8" tc rgb "#333333" boxed front
    }
    if (peak_v[i] > 0) {
        set label 1 "" at peak_t[i] / tscale, peak_v[i] / yscale point pt 7 ps 0.8 lc rgb c_peak front
    }
    if (i == 1) { set key at screen 0.01, screen 1.0 - top_band * 0.45 left top horizontal maxcols 2 reverse Left samplen 1.5 width 1 font ",9" } else { unset key }
    plot datafile index (i - 1) using ($1 / tscale):(0):($2 / yscale) with filledcurves lc rgb c_dram title "DRAM", \
         '' index (i - 1) using ($1 / tscale):($2 / yscale):(($2 + $3) / yscale) with filledcurves lc rgb c_trace title "TRACE", \
         '' index (i - 1) using ($1 / tscale):(($2 + $3) / yscale):(($2 + $3 + $4) / yscale) with filledcurves lc rgb c_l1 title "L1", \
         '' index (i - 1) using ($1 / tscale):(($2 + $3 + $4) / yscale):(($2 + $3 + $4 + $5) / yscale) with filledcurves lc rgb c_l1s title "L1_SMALL"

    # ---- lower strip: every region on a log axis with its capacity ----
    set origin x0, y0
    set size cell_w, cell_h * lower_frac
    set tmargin 0; set bmargin 3
    unset title
    set format x "%g"
    set xlabel time_label offset 0, 0.5
    set logscale y 2
    set yrange [logmin : logmax]
    eval log_ytics
    set ylabel "per region" offset 1, 0
    unset label
    unset arrow
    do for [p = 1:NPHASE] {
        set arrow (100 + p) from phase_t[p] / tscale, graph 0 to phase_t[p] / tscale, graph 1 nohead lc rgb c_phase dt 2 lw 1 front
    }
    unset key
    plot datafile index (i - 1) using ($1 / tscale):(clamp($4)) with lines lc rgb c_l1_line lw 1 notitle, \
         '' index (i - 1) using ($1 / tscale):(clamp($5)) with lines lc rgb c_l1s lw 1.2 notitle, \
         '' index (i - 1) using ($1 / tscale):(clamp($2)) with lines lc rgb c_dram lw 1.8 notitle, \
         '' index (i - 1) using ($1 / tscale):(clamp($3)) with lines lc rgb c_trace lw 2.5 notitle, \
         capline(cap_dram[i]) with lines lc rgb c_dram dt 2 lw 1 notitle, \
         capline(cap_trace[i]) with lines lc rgb c_trace dt 2 lw 1 notitle, \
         capline(cap_l1[i]) with lines lc rgb c_l1 dt 2 lw 1 notitle, \
         capline(cap_l1s[i]) with lines lc rgb c_l1s dt 2 lw 1 notitle
}
unset multiplot
