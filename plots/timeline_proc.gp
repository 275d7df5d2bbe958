    # ---- timeline_proc.gp: per-process series (`#shm-process` lines of allocsim shm record) ----
    # allocsim plot inserts this at the end of timeline.gp's panel loop, only for timelines
    # with such lines. Each process's DRAM + TRACE + L1 + L1_SMALL (the sum the stack's top edge
    # shows) is a step line over the upper strip, on its axes and margins, drawn without its
    # frame, grid and tics (restored after). At most PROC_SLOTS lines per panel: with more
    # processes the last, dashed, is the sum of the smaller ones (proc_other[i]). Data: block
    # NDEV + i - 1 of the data file, columns 2.. in the order of proc_title.
    if (proc_n[i] > 0) {
        proc_colors = "#111111 #ee7733 #aa3377 #0077bb #009988 #882255 #999933 #555555"
        unset logscale y
        set origin x0, split
        set size cell_w, cell_h * (1.0 - lower_frac)
        set lmargin 10; set rmargin 3; set tmargin 2; set bmargin 0
        unset title
        set yrange [0 : ymax / yscale]
        set border 0
        unset grid
        unset xtics
        unset ytics
        unset xlabel
        unset ylabel
        unset label
        unset arrow
        set key inside left top vertical Left reverse samplen 2 spacing 0.9 width 1 font ",7" opaque box lc rgb "#bbbbbb"
        n_own = proc_n[i] - proc_other[i]
        plot for [k = 1:n_own] datafile index (NDEV + i - 1) using ($1 / tscale):(column(k + 1) / yscale) with steps lc rgb word(proc_colors, k) lw 1.6 title proc_title[(i - 1) * PROC_SLOTS + k], \
             for [k = n_own + 1:proc_n[i]] datafile index (NDEV + i - 1) using ($1 / tscale):(column(k + 1) / yscale) with steps lc rgb word(proc_colors, k) lw 1.6 dt 2 title proc_title[(i - 1) * PROC_SLOTS + k]
        set border 31 lw 0.8
        set grid xtics ytics lc rgb "#dddddd" lw 0.6 dt 1
        set xtics
        set ytics
    }
