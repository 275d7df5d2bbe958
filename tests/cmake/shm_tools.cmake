# shm_tools: the region tools (`allocsim shm show|check|clean|record`) on hand-built regions
# (tests/data/shm/make_regions.py writes every byte at the spec's offsets), the bad-input files
# of tests/bad/shm/, and the SHM fuzzer: every reproducer of tests/fuzz/shm-repro/ replayed
# with real processes (each must still show its `expect` kind and agree with the model), the
# acceptance campaigns from fixed seeds, and the v4c safe paths finding nothing. Nothing here
# touches the machine's /dev/shm/tt_device_* (private directories only; see docs/shm.md).
set(SHM_DATA ${CMAKE_SOURCE_DIR}/tests/data/shm)
set(SHM_TMP ${CMAKE_BINARY_DIR}/shm-tests)
file(MAKE_DIRECTORY ${SHM_TMP})

function(allocsim_shm_test name regex)
  add_test(NAME ${name} COMMAND sh -c "${ARGN}")
  set_tests_properties(${name} PROPERTIES TIMEOUT 120 PASS_REGULAR_EXPRESSION "${regex}"
    ENVIRONMENT "A=${ALLOCSIM_BIN}/allocsim;D=${SHM_DATA};T=${SHM_TMP};S=${CMAKE_SOURCE_DIR}")
endfunction()

# show: the tt_smi-like tables, known answers (DRAM = dram + trace = 12 515 328 B = 11.9 MiB
# of a T3K chip's 12 GiB; L1 = l1 + l1_small + cb = 3072 B; one live, one dead process).
allocsim_shm_test(shm_show_known
  "tt_device_7_memory +v4 +0 11\\.9MiB / 12\\.0GiB +0\\.1% +3\\.0KiB / 80\\.1MiB +0\\.0% +2 +1 +ready.*tt_device_469504_memory +v1-K .*python3 +4\\.0KiB +2\\.0KiB +0B +11\\.9MiB +0B +live.*4194401 pytest +8\\.0KiB +0B +0B +0B +1\\.0KiB +dead.*exit 0"
  "\"$A\" shm show --dir \"$D/good\" --devices t3k; echo \"exit $?\"")
allocsim_shm_test(shm_show_json
  "\"layout\":\"v4\".*\"totals\":\\{\"dram_shown\":12515328,\"l1_shown\":3072,\"dram\":12288,.*\"pid\":4194401,\"state\":\"dead\",\"name\":\"pytest\".*\"layout\":\"v1-K\".*\"kernel\":4096"
  "\"$A\" shm show --dir \"$D/good\" --json")
# --watch without a terminal: one plain line per region and sample, two samples.
allocsim_shm_test(shm_show_watch_plain
  "^[0-9]+ tt_device_7_memory dev 0 layout v4 dram 12288 l1 2048 l1_small 0 trace 12503040 cb 1024 procs 2 live 1\n[0-9]+ tt_device_469504_memory dev 0 layout v1-K dram 1048576 [^\n]*\n[0-9]+ tt_device_7_memory [^\n]*\n[0-9]+ tt_device_469504_memory [^\n]*\nexit 0\n$"
  "\"$A\" shm show --dir \"$D/good\" --watch --count 2 --interval 10 </dev/null | cat; echo \"exit $?\"")

# check: the good regions have exactly the dead process; the planted one (a canary) each planted
# kind (the chip above the total is not judged against a wrapped total).
allocsim_shm_test(shm_check_known
  "^[^\n]*tt_device_469504_memory[^\n]*\n?[^\n]*tt_device_7_memory: processes\\[1\\]\\.pid: 4194401 is not running \\(slot still holds 8192 bytes of DRAM\\) \\[dead-pid\\]\nshm check: 2 regions, 1 finding, 0 unreadable\nexit 1\n$|^[^\n]*tt_device_7_memory: processes\\[1\\]\\.pid: 4194401 is not running \\(slot still holds 8192 bytes of DRAM\\) \\[dead-pid\\]\nshm check: 2 regions, 1 finding, 0 unreadable\nexit 1\n$"
  "\"$A\" shm check --dir \"$D/good\"; echo \"exit $?\"")
allocsim_shm_test(shm_check_canary
  "init_state: 0x00000001 \\(IN_PROGRESS.*\\[init-state\\].*pid: 1 also in processes\\[0\\]: one process, two slots \\[dup-pid\\].*totals\\.dram: 18446744073709547520 \\(>= 2\\^63: wrapped below zero\\) \\[wrapped\\].*num_active_processes: 5, but 2 process slots are occupied \\[num-active\\].*exit 1"
  "\"$A\" shm check \"$D/planted/tt_device_8_memory\" 2>&1; echo \"exit $?\"")

# clean: refuses /dev/shm without --live; on a copy, the safe cleanup frees the dead slot
# and subtracts its bytes clamped; tt_smi@613a74f6 on a v4 file sees no slot (v1-K offsets).
allocsim_shm_test(shm_clean_refuses_dev_shm
  "refusing to write the machine's regions in /dev/shm without --live.*exit 2"
  "\"$A\" shm clean 2>&1; echo \"exit $?\"")
allocsim_shm_test(shm_clean_safe
  "tt_device_7_memory: safe cleaned 1 slot\n  num_active_processes: 2 -> 1\n  reference_count: 2 -> 1\n  totals\\.dram: 12288 -> 4096\n  totals\\.cb: 1024 -> 0\n  processes\\[1\\]\\.pid: 4194401 -> 0\n  processes\\[1\\]\\.dram: 8192 -> 0\n  processes\\[1\\]\\.cb: 1024 -> 0\n  processes\\[1\\]\\.process_name: changed\n.*chip_stats\\[\\*\\]\\.dram: 12288 over all chips, above totals\\.dram 4096 \\[chip-above-total\\].*shm check: 1 region, 2 findings"
  "rm -rf \"$T/clean\" && mkdir -p \"$T/clean\" && cp \"$D/good/tt_device_7_memory\" \"$T/clean/\" && \"$A\" shm clean --dir \"$T/clean\" && \"$A\" shm check --dir \"$T/clean\"")
allocsim_shm_test(shm_clean_as_tt_smi
  "tt_device_7_memory: tt_smi@613a74f6 cleaned 0 slots, nothing changed"
  "rm -rf \"$T/clean2\" && mkdir -p \"$T/clean2\" && cp \"$D/good/tt_device_7_memory\" \"$T/clean2/\" && \"$A\" shm clean --dir \"$T/clean2\" --as tt_smi")

# record: a timeline plot_tsv reads (allocsim plot --keep-script parses it even without gnuplot).
allocsim_shm_test(shm_record_timeline
  "#allocsim-timeline v1\n#title [^\n]*\n#time_unit ns\n#shm-epoch-ns [0-9]+\ntime\tdevice\tDRAM\tL1\tL1_SMALL\tTRACE\n#capacity 0 12884901888 83951616 0 0\n#shm-region 0 tt_device_7_memory v4\n[0-9]+\t0\t12288\t2048\t0\t12503040\n#shm-cb [0-9]+ 0 1024\n#shm-process [0-9]+ 0 1 python3 4096 2048 0 12503040 0\n#shm-process [0-9]+ 0 4194401 pytest 8192 0 0 0 1024\n#capacity 1 [^\n]*\n#shm-region 1 tt_device_469504_memory v1-K\n[0-9]+\t1\t1048576\t0\t0\t0\n.*plot: (0|1)"
  "\"$A\" shm record --dir \"$D/good\" --interval 10 --count 3 --devices t3k -o \"$T/rec.tsv\" 2>/dev/null && cat \"$T/rec.tsv\" && \"$A\" plot \"$T/rec.tsv\" -o \"$T/rec.png\" >/dev/null 2>&1; echo \"plot: $?\"")

# Bad input: every file of tests/bad/shm/ gives its one line and exit 2; a directory of 3000
# regions (every tenth bad) is shown, checked and recorded with one line per bad file.
file(GLOB SHM_BAD_EXPECTS ${CMAKE_SOURCE_DIR}/tests/bad/shm/*.expect)
foreach(exp ${SHM_BAD_EXPECTS})
  string(REGEX REPLACE "\\.expect$" "" input ${exp})
  get_filename_component(bad_name ${input} NAME)
  file(STRINGS ${exp} err_line REGEX "^error ")
  string(REGEX REPLACE "^error \\^?" "" err_re "${err_line}")
  string(REPLACE "@FILE@" "[^:]*${bad_name}" err_re "${err_re}")
  string(REGEX REPLACE "\\$$" "" err_re "${err_re}")
  allocsim_shm_test(shm_bad_${bad_name} "^${err_re}\nshm check: 0 regions, 0 findings, 1 unreadable\nexit 2\n$"
    "\"$A\" shm check \"$S/tests/bad/shm/${bad_name}\" 2>&1; echo \"exit $?\"")
endforeach()
allocsim_shm_test(shm_bad_thousands
  "show 2 lines 300\ncheck 2 lines 300 summary shm check: 3000 regions, 3000 findings, 300 unreadable\nrecord 2 lines 300\n$"
  "d=\"$T/many\" && rm -rf \"$d\" && mkdir -p \"$d\" && i=0 && while [ $i -lt 3300 ]; do if [ $((i % 11)) -eq 10 ]; then head -c 100 \"$D/good/tt_device_7_memory\" > \"$d/tt_device_$i\"_memory; else cp \"$D/good/tt_device_7_memory\" \"$d/tt_device_$i\"_memory; fi; i=$((i+1)); done; \"$A\" shm show --dir \"$d\" >/dev/null 2>\"$T/e1\"; s1=$?; \"$A\" shm check --dir \"$d\" >\"$T/o2\" 2>\"$T/e2\"; s2=$?; \"$A\" shm record --dir \"$d\" --interval 10 --count 2 -o \"$T/many.tsv\" 2>\"$T/e3\" >/dev/null; s3=$?; echo \"show $s1 lines $(wc -l <\"$T/e1\")\"; echo \"check $s2 lines $(wc -l <\"$T/e2\") summary $(tail -1 \"$T/o2\")\"; echo \"record $s3 lines $(grep -c 'too short' \"$T/e3\")\"")

# The fuzzer: reproducers, acceptance from fixed seeds, the safe paths.
file(GLOB SHM_REPROS ${CMAKE_SOURCE_DIR}/tests/fuzz/shm-repro/*.shmsched)
foreach(repro ${SHM_REPROS})
  get_filename_component(rname ${repro} NAME_WE)
  add_test(NAME shm_repro_${rname} COMMAND ${ALLOCSIM_BIN}/allocsim fuzz --target shm --replay ${repro})
  # 77: every schedule needed pid reuse and the kernel refused a private PID namespace.
  set_tests_properties(shm_repro_${rname} PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77)
endforeach()
# Acceptance from fixed seeds (shm-tracking.md section 7 items 8, 10, 11, 13 and 7): each campaign
# must report every listed signature as new. Seeds and run counts are the smallest that do,
# so the ASan build stays within its time too (a forked ASan child is slow to start).
foreach(acc "v3;1;100;wrapped@v3 num-active@v3 slot-twice@v3 chip-above-total@v3"
            "v1-K;3;80;wrapped@v1-K slot-twice@v1-K num-active@v1-K chip-above-total@v1-K"
            "v4a;1;10;init-state@v4a")
  list(GET acc 0 lay)
  list(GET acc 1 seed)
  list(GET acc 2 runs)
  list(GET acc 3 sigs)
  allocsim_shm_test(shm_fuzz_acceptance_${lay} "^all found\n$"
    "o=$(\"$A\" fuzz --target shm --seed ${seed} --runs ${runs} --shm-layout ${lay} --out \"$T/acc-${lay}\"); for s in ${sigs}; do echo \"$o\" | grep -Eq \"^new: $s \\(schedule [0-9]+, [0-9]+ -> [0-9] entries\\)\" || { echo \"missing $s\"; exit 1; }; done; echo 'all found'")
endforeach()
# Pid reuse (section 7 item 15): schedule 60 of seed 1 gives a new v4c process a dead one's pid in a
# private PID namespace; its attach must find the dead process's bytes in "its" slot. SKIP where
# the kernel refuses the namespace (the campaign says so in one line).
allocsim_shm_test(shm_fuzz_acceptance_pid_reuse "^found\n$"
  "o=$(\"$A\" fuzz --target shm --seed 1 --runs 61 --shm-layout v4c --out \"$T/acc-reuse\"); echo \"$o\" | grep -q '^shm fuzz: pid reuse skipped' && { echo \"$o\" | head -1; exit 0; }; echo \"$o\" | grep -Eq '^new: slot-inherited@v4c \\(schedule 60, [0-9]+ -> 4 entries\\)' && echo found || echo \"missing slot-inherited@v4c\"")
set_tests_properties(shm_fuzz_acceptance_pid_reuse PROPERTIES SKIP_REGULAR_EXPRESSION "pid reuse skipped")
if(ALLOCSIM_SANITIZE OR ALLOCSIM_FUZZ)
  set(SHM_SAFE_RUNS 300)
  set(SHM_DET_RUNS 100)
else()
  set(SHM_SAFE_RUNS 3000)
  set(SHM_DET_RUNS 300)
endif()
allocsim_shm_test(shm_fuzz_v4c_safe "^shm fuzz: seed 1, ${SHM_SAFE_RUNS} schedules in [0-9.]+ s, 0 signatures\nbench [^\n]*\nexit 0\n$"
  "\"$A\" fuzz --target shm --seed 1 --runs ${SHM_SAFE_RUNS} --safe --out \"$T/safe\" --quiet; echo \"exit $?\"")
allocsim_shm_test(shm_fuzz_deterministic "^same\n$"
  "\"$A\" fuzz --target shm --seed 5 --runs ${SHM_DET_RUNS} --shm-layout v2b --out \"$T/det1\" --quiet >/dev/null; \"$A\" fuzz --target shm --seed 5 --runs ${SHM_DET_RUNS} --shm-layout v2b --out \"$T/det2\" --quiet >/dev/null; for f in \"$T/det1\"/*; do sed '/^# .*: [0-9]* is not running/d;/^# processes\\[/d' \"$f\" > \"$T/a\"; sed '/^# .*: [0-9]* is not running/d;/^# processes\\[/d' \"$T/det2/$(basename \"$f\")\" > \"$T/b\"; cmp -s \"$T/a\" \"$T/b\" || { echo differ $f; exit 1; }; done; echo same")

# Per-process series in plots (docs/plots.md): tests/data/plot/procs.tsv is hand-built. Device 0
# has 9 processes, so 7 get a line, ranked by peak (pid 19 peaks at 1000 + 10000 TRACE = 11000
# at 200 and so ranks first), and pids 17 and 18 share the 8th, "2 more processes (sum)":
# 3000 + 2000 = 5000; pid 11's `-` line at 300 ends it at 0. On device 1 pid 500 is recycled:
# python3 (4096 DRAM) ends at 250 and pytest (2048 L1) is a second series. The last row is
# t_end = 300 + 300/50 + 1 = 307. gnuplot is not run (ALLOCSIM_GNUPLOT empty), so the data and
# script stay; a bad #shm-process line is an error naming its column.
allocsim_shm_test(plot_shm_process_series
  "# processes of panel 0: device 0, 9 processes, 8 columns\n0\t0\t0\t0\t0\t0\t0\t0\t0\n100\t1000\t9000\t8000\t7000\t6000\t5000\t4000\t5000\n200\t11000\t9000\t8000\t7000\t6000\t5000\t4000\t5000\n300\t11000\t0\t8000\t7000\t6000\t5000\t4000\t5000\n307\t11000\t0\t8000\t7000\t6000\t5000\t4000\t5000\n\n\n# processes of panel 1: device 1, 2 processes, 2 columns\n0\t0\t0\n150\t4096\t0\n250\t0\t2048\n307\t0\t2048\n---\narray proc_n\\[2\\] = \\[8, 2\\]\narray proc_other\\[2\\] = \\[1, 0\\]\narray proc_title\\[16\\] = \\[\"pid 19 nineteen\", \"pid 11 eleven\", \"pid 12 twelve\", \"pid 13 thirteen\", \"pid 14 fourteen\", \"pid 15 fifteen\", \"pid 16 sixteen\", \"2 more processes \\(sum\\)\", \"pid 500 python3\", \"pid 500 pytest\", \"\", \"\", \"\", \"\", \"\", \"\"\\]\ntimeline_proc 1\n[^\n]*bad.tsv:3:18: expected pid, found \"x\"\nexit 2\n$"
  "cd \"$T\" && ALLOCSIM_GNUPLOT= \"$A\" plot \"$S/tests/data/plot/procs.tsv\" -o procs.png >/dev/null 2>&1; sed -n '/# processes of panel 0/,$p' procs.data.tsv; echo ---; grep '^array proc_' procs.gp; echo \"timeline_proc $(grep -c 'timeline_proc.gp: per-process' procs.gp)\"; printf '#allocsim-timeline v1\\ntime\\tdevice\\tDRAM\\tL1\\tL1_SMALL\\tTRACE\\n#shm-process 1 0 x n 0 0 0 0 0\\n' > bad.tsv; \"$A\" plot bad.tsv -o bad.png 2>&1; echo \"exit $?\"")
