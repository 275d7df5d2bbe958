    # ---- timeline_cbk.gp: the v144 server's CB and kernel bytes, over the lower strip ----
    # allocsim plot inserts this at the end of timeline.gp's panel loop, only for timelines
    # with `#cbk` (or `#shm-cb`) lines; data columns 6 and 7. Same axes, margins and log scale
    # as the lower strip, drawn without its frame, grid and tics; they are restored after.
    c_cb = "#aa3377"; c_kernel = "#0099bb"
    set border 0
    unset grid
    unset xtics
    unset ytics
    unset xlabel
    unset ylabel
    unset arrow
    if (i == 1) { set key inside right bottom horizontal samplen 1.5 width 0.5 font ",8" opaque } else { unset key }
    plot datafile index (i - 1) using ($1 / tscale):(clamp($6)) with lines lc rgb c_cb lw 2 title "CB", \
         '' index (i - 1) using ($1 / tscale):(clamp($7)) with lines lc rgb c_kernel lw 2 dt 4 title "kernels"
    set border 31 lw 0.8
    set grid xtics ytics lc rgb "#dddddd" lw 0.6 dt 1
    set xtics
    set ytics
