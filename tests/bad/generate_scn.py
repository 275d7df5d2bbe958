# Writes tests/bad/scn/*.scn and their .expect files. Each case states the bad text, the line
# and the token at fault (the column is where that token starts), and the message gist.
import os, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)

def ere(s):
    r = ''
    for ch in s:
        r += '\\' + ch if ch in '\\.[]()*+?{}|^$' else ch
    return r

def pat(msg):  # '…' is a wildcard, the rest literal
    return '.*'.join(ere(p) for p in msg.split('…'))

HEAD = "mesh n150\nprocess p\n  open\n"   # the statement under test goes on line 4

cases = []
def case(name, text, line, col, msg, comment, args=None, binary=False, live=True):
    cases.append((name, text, line, col, msg, comment, args, binary, live))

def col_of(text, line, token, nth=1):
    l = text.split('\n')[line - 1] if isinstance(text, str) else text.split(b'\n')[line - 1].decode('latin-1')
    if token is None:       # end of line (before a comment, if any)
        i = l.find('#')
        return (i if i >= 0 else len(l.rstrip('\r'))) + 1
    i = -1
    for _ in range(nth):
        i = l.index(token, i + 1)
    return i + 1

def stmt(name, body, token, msg, comment, nth=1, args=None, live=True, at=None):
    text = HEAD + body + "\n"
    line = at if at else 4 + body.count('\n')   # the error is on the last line unless said
    case(name, text, line, col_of(text, line, token, nth), msg, comment, args, live=live)

# ---- the file as a whole ---------------------------------------------------------------
case('empty', '', 1, 1, 'expected a process, found end of file', 'an empty file')
t = "# a scenario with nothing but comments\n# (an editor saved the wrong buffer)\n"
case('only_comments', t, 3, 1, 'expected a process, found end of file', 'only comments')
case('elf_binary', b'\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00\x3e\x00', 1, 8,
     'expected text, found a NUL byte', 'a binary (an ELF header) given as a scenario', binary=True)
case('random_bytes', bytes([0x9c, 0x1f, 0x8b, 0x08, 0x00, 0x41, 0xf3, 0x77, 0x10, 0x00, 0xfe]), 1, 1,
     'expected UTF-8 text, found byte 0x9c', 'binary garbage (random bytes)', binary=True)
case('gzip', bytes([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03]) + b'scenario', 1, 2,
     'expected UTF-8 text, found byte 0x8b', 'a gzip-compressed scenario', binary=True)
t = b"mesh n150\nprocess p\n  open\x00\n"
case('nul_byte', t, 3, 7, 'expected text, found a NUL byte', 'a NUL byte in a line', binary=True)
t = b"# cafe in Latin-1: caf\xe9\nmesh n150\nprocess p\n"
case('latin1', t, 1, 23, 'expected UTF-8 text, found byte 0xe9', 'Latin-1, not UTF-8', binary=True)
t = b"mesh n150\nprocess p\n  phase x\xe2\x82"
case('utf8_truncated', t, 3, 10, 'expected UTF-8 text, found byte 0xe2', 'a UTF-8 sequence cut by the end of the file', binary=True)
t = b"mesh n150\nprocess p\n  phase \xc0\xaf\n"
case('utf8_overlong', t, 3, 9, 'expected UTF-8 text, found byte 0xc0', 'an overlong UTF-8 encoding of /', binary=True)
t = b"mesh n150\nprocess p\n  phase \xed\xa0\x80\n"
case('utf8_surrogate', t, 3, 9, 'expected UTF-8 text, found byte 0xed', 'a UTF-16 surrogate encoded as UTF-8', binary=True)
t = "mesh n150\nprocess p\n".encode('utf-16')
case('utf16', t, 1, 1, 'expected UTF-8 text, found byte 0xff', 'a UTF-16 file (with its byte order mark)', binary=True)
t = "\ufeffmesh n150\nprocess p\n  open\n"
case('utf8_bom', t, 1, 1, "expected protocol, seed, mesh, client or process, found …", 'a UTF-8 byte order mark before the first word')
t = "mesh n150\nprocess café\n  open\n"
case('name_not_ascii', t, 2, col_of(t, 2, 'é'), "expected end of line, found 'é'", 'a process name with a non-ASCII letter')

# ---- top level ----------------------------------------------------------------------------
t = "mesh n150\n"
case('no_process', t, 2, 1, 'expected a process, found end of file', 'a mesh but no process')
t = "devices 8\nprocess p\n"
case('unknown_top', t, 1, 1, "expected protocol, seed, mesh, client or process, found 'devices'", 'an unknown top-level statement')
t = "mesh n150\nopen\n"
case('statement_before_process', t, 2, 1, "expected protocol, seed, mesh, client or process, found 'open'", 'a process statement before any process')
t = "protocol v96\nmesh n150\nprocess p\n"
case('protocol_unknown', t, 1, 10, "expected a protocol revision (v72, v112, v112-hex, v144, v144-256), found 'v96'", 'an unknown protocol revision')
t = "protocol\nmesh n150\nprocess p\n"
case('protocol_missing', t, 1, 9, 'expected a protocol revision (…), found end of line', 'protocol without a revision')
t = "protocol v72\nprotocol v144\nmesh n150\nprocess p\n"
case('protocol_twice', t, 2, 1, "expected one protocol statement, not two, found 'protocol'", 'two protocol statements')
t = "protocol v72 v144\nmesh n150\nprocess p\n"
case('protocol_extra', t, 1, 14, "expected end of line, found 'v144'", 'protocol with two revisions')
t = "protocol V72\nmesh n150\nprocess p\n"
case('protocol_case', t, 1, 10, "expected a protocol revision (…), found 'V72'", 'revision names are lower case')
t = "seed 18446744073709551616\nmesh n150\nprocess p\n"
case('seed_overflow', t, 1, 6, "expected a seed up to 18446744073709551615, found '18446744073709551616'", 'a seed of 2^64')
t = "seed -1\nmesh n150\nprocess p\n"
case('seed_negative', t, 1, 6, "expected a seed, found '-'", 'a negative seed')
t = "seed 0x\nmesh n150\nprocess p\n"
case('seed_bad_hex', t, 1, 6, "expected a seed, found '0x'", '0x without digits')
t = "seed 1\nseed 2\nmesh n150\nprocess p\n"
case('seed_twice', t, 2, 1, "expected one seed statement, not two, found 'seed'", 'two seed statements')
t = "seed 12MiB\nmesh n150\nprocess p\n"
case('seed_with_unit', t, 1, 6, "expected a seed, found '12MiB'", 'a seed with a size unit')

# ---- mesh ------------------------------------------------------------------------------------
def mesh(name, line1, token, msg, comment, nth=1):
    t = line1 + "\nprocess p\n  open\n"
    case(name, t, 1, col_of(t, 1, token, nth), msg, comment)
mesh('mesh_unknown_preset', 'mesh t4k', 't4k', "expected a device preset (n150, n300, t3k, galaxy, p150…), found 't4k'", 'an unknown device preset')
mesh('mesh_missing_preset', 'mesh', None, 'expected a device preset, found end of line', 'mesh without a preset')
mesh('mesh_preset_case', 'mesh T3K', 'T3K', "expected a device preset (…), found 'T3K'", 'preset names are lower case')
mesh('mesh_unknown_option', 'mesh t3k trace_size=30MB', 'trace_size', "expected a mesh option (…) or as NAME, found 'trace_size'", 'a misspelt mesh option')
mesh('mesh_bad_unit', 'mesh t3k trace_region_size=30Mb', '30Mb', "expected a size unit B, KiB, MiB, GiB, TiB, KB, MB, GB or TB, found '30Mb'", 'Mb (megabit) is not a size unit')
mesh('mesh_option_no_value', 'mesh t3k trace_region_size=', None, 'expected a size (…), found end of line', 'an option without its value')
mesh('mesh_option_no_equals', 'mesh t3k trace_region_size 30MB', '30MB', "expected '=', found '30MB'", 'an option without =')
mesh('mesh_size_overflow', 'mesh n150 dram_bank_size=99999999999999999999', '9999', "expected a size below 2^64 bytes, found '99999999999999999999'", 'a size that overflows 64 bits')
mesh('mesh_size_unit_overflow', 'mesh n150 dram_bank_size=17179869184GiB', '1717', "expected a size below 2^64 bytes, found '17179869184GiB'", 'a size that overflows 64 bits once the unit applies (2^34 GiB)')
mesh('mesh_size_fraction', 'mesh n150 l1_size=1.5B', '1.5B', "expected a whole number of bytes, found '1.5B'", 'half a byte')
mesh('mesh_devices_too_many', 'mesh n150 devices=257', '257', "expected a device count up to 256, found '257'", 'more devices than any revision tracks')
mesh('mesh_count_negative', 'mesh n150 dram_banks=-12', '-', "expected a number, found '-'", 'a negative bank count')
mesh('mesh_count_overflow', 'mesh n150 dram_banks=4294967296', '4294967296', "expected a number up to 4294967295, found '4294967296'", 'a 32-bit count of 2^32')
mesh('mesh_invalid_config', 'mesh n150 dram_banks=0', 'mesh', 'expected a valid mesh configuration, found …', 'a mesh without DRAM banks')
mesh('mesh_profiler_bad', 'mesh n150 profiler=yes', 'yes', "expected on or off, found 'yes'", 'profiler takes on or off')
mesh('mesh_order_empty_item', 'mesh t3k order=0,1,,2', ',', "expected a device id, found ','", 'an empty item in a device order (the comma where the id should be)', nth=3)
mesh('mesh_order_out_of_range', 'mesh t3k order=0,1,2,300', '300', "expected a device id up to 255, found '300'", 'a device id beyond 255')
mesh('mesh_as_missing', 'mesh n150 as', None, 'expected a mesh name, found end of line', 'as without a name')
t = "mesh n150\nmesh n150\nprocess p\n"
case('mesh_duplicate_name', t, 2, 1, "expected a new mesh name (use 'as NAME'), found 'n150' again", 'two meshes with the same name')
t = "mesh n150\nprocess p\n  open\nmesh n300\n"
case('mesh_after_process', t, 4, 1, "expected a process statement (mesh, protocol and seed come before the first process), found 'mesh'", 'a mesh declared after a process')

# ---- processes ------------------------------------------------------------------------------
t = "mesh n150\nprocess\n"
case('process_missing_name', t, 2, 8, 'expected a process name, found end of line', 'process without a name')
t = "mesh n150\nprocess p q\n"
case('process_extra', t, 2, 11, "expected end of line, found 'q'", 'two process names')
t = "mesh n150\nprocess p\n  open\nprocess p\n"
case('process_duplicate', t, 4, 9, "expected a new process name, found 'p'", 'two processes with one name')
t = "mesh n150\nprocess 42\n"
case('process_number_name', t, 2, 9, "expected a process name, found '42'", 'a number as a process name')

# ---- statements ---------------------------------------------------------------------------------
stmt('unknown_statement', '  jump', 'jump', "expected a statement (open, alloc, free, program, clear, trace, decode, wait, query, dump, phase, expect, repeat, send, client, close, exit, crash or process), found 'jump'", 'an unknown statement')
stmt('statement_case', '  Alloc w DRAM 1MiB', 'Alloc', "expected a statement (…), found 'Alloc'", 'statements are lower case')
t = "mesh n150\nprocess p\n  open\n  alloc w DRAM 1MiB ; free w\n"
case('semicolon', t, 4, col_of(t, 4, ';'), "expected page=SIZE, shard=N, bottom_up, top_down, on SEL or end of line, found …", 'two statements on one line')
t = "mesh n150\nprocess p\n  open\n"
t2 = "process p\n  open\n"
case('open_no_mesh', t2, 2, 3, 'expected a mesh statement before the first process, found none', 'open without any mesh declared')
stmt('open_unknown_mesh', '  open t3k', 't3k', "expected the name of a declared mesh, found 't3k'", 'open of an undeclared mesh')
stmt('open_extra', '  open n150 now', 'now', "expected end of line, found 'now'", 'open with two names')
# alloc
stmt('alloc_missing_name', '  alloc', None, 'expected a buffer name, found end of line', 'alloc without anything')
stmt('alloc_missing_type', '  alloc w', None, 'expected a buffer type DRAM, L1 or L1_SMALL, found end of line', 'alloc without a type')
stmt('alloc_bad_type', '  alloc w TRACE 1MiB', 'TRACE', "expected a buffer type DRAM, L1 or L1_SMALL, found 'TRACE'", 'TRACE buffers come from trace end, not alloc')
stmt('alloc_missing_size', '  alloc w DRAM', None, 'expected a size (…), found end of line', 'alloc without a size')
stmt('alloc_bad_unit', '  alloc w DRAM 12XB', '12XB', "expected a size unit B, KiB, MiB, GiB, TiB, KB, MB, GB or TB, found '12XB'", 'an unknown size unit')
stmt('alloc_lowercase_unit', '  alloc w DRAM 1mib', '1mib', "expected a size unit B, KiB, MiB, GiB, TiB, KB, MB, GB or TB, found '1mib'", 'units are case-sensitive')
stmt('alloc_hex_with_unit', '  alloc w DRAM 0x10MiB', 'MiB', "expected page=SIZE, shard=N, bottom_up, top_down, on SEL or end of line, found 'MiB'", 'a hex number with a unit: the hex number ends at the first non-hex letter, so the unit is read as a stray word')
stmt('alloc_zero', '  alloc w DRAM 0', '0', 'expected a size above 0, found 0 (zero-size buffers are never reported)', 'a zero-size buffer')
stmt('alloc_overflow', '  alloc w DRAM 16777216TiB', '1677', "expected a size below 2^64 bytes, found '16777216TiB'", '2^64 bytes')
stmt('alloc_fraction', '  alloc w DRAM 1.3KiB', '1.3KiB', "expected a whole number of bytes, found '1.3KiB'", '1.3 KiB is not a whole number of bytes')
stmt('alloc_range_reversed', '  alloc w DRAM 4KiB..1KiB', '1KiB', 'expected an upper bound of at least 4096, found 1024', 'a size range whose upper bound is below its lower one')
stmt('alloc_range_open', '  alloc w DRAM 4KiB..', None, 'expected a size (…), found end of line', 'a size range without an upper bound')
stmt('alloc_option_twice', '  alloc w DRAM 1MiB page=2KiB page=4KiB', 'page', "expected page=SIZE, shard=N, bottom_up, top_down, on SEL or end of line, found 'page'", 'the same option twice', nth=2)
stmt('alloc_page_zero', '  alloc w DRAM 1MiB page=0', 'page', 'expected a page size above 0, found 0', 'a zero page size')
stmt('alloc_unknown_option', '  alloc w DRAM 1MiB interleaved', 'interleaved', "expected page=SIZE, shard=N, bottom_up, top_down, on SEL or end of line, found 'interleaved'", 'an unknown alloc option')
stmt('alloc_shard_no_value', '  alloc s L1_SMALL 4KiB shard=', None, 'expected a core count, found end of line', 'shard= without a count')
stmt('alloc_shard_zero', '  alloc s L1_SMALL 4KiB shard=0', None, 'expected a core count above 0, found 0', 'a shard over zero cores')
stmt('alloc_l1_small_unsharded', '  alloc s L1_SMALL 4KiB', None, 'expected shard=N (L1_SMALL buffers are sharded only), found end of line', 'an interleaved L1_SMALL buffer')
stmt('alloc_device_out_of_range', '  alloc w DRAM 1MiB on dev 256', '256', "expected a device id up to 255, found '256'", 'device 256')
stmt('alloc_devs_reversed', '  alloc w DRAM 1MiB on devs 5..2', None, 'expected a range N..M with M >= N, found 5..2', 'a device range written backwards')
stmt('alloc_bad_selection', '  alloc w DRAM 1MiB on chip 3', 'chip', "expected a device selection (all, dev N, devs N,M,... or devs N..M), found 'chip'", 'an unknown device selection')
stmt('alloc_dotted_name', '  alloc a.b DRAM 1MiB', 'a.b', "expected a buffer name, found 'a.b'", 'a buffer name with a dot (dots name another process\'s buffer)')
# free
stmt('free_unknown', '  free x', 'x', "expected a buffer allocated earlier in this process, found 'x'", 'free of a buffer never allocated')
stmt('free_missing', '  free', None, 'expected a buffer name, found end of line', 'free without a name')
stmt('free_extra', '  alloc w DRAM 1MiB\n  free w now', 'now', "expected end of line, found 'now'", 'free with two names')
# program, clear
stmt('program_missing_name', '  program', None, 'expected a program name, found end of line', 'program without a name')
stmt('program_bad_key', '  program p bin=4KiB', 'bin', "expected binary=, cbs=, kernel=, kernel_type=, kernel_id=, cores= (each once) or end of line, found 'bin'", 'a misspelt binary= key')
stmt('program_binary_zero', '  program p binary=0', '0', 'expected a binary size above 0, found 0', 'a zero-size kernel binary')
stmt('program_trailing_comma', '  program p binary=4KiB,', None, 'expected a size (…), found end of line', 'a binary list ending in a comma')
stmt('clear_incomplete', '  clear program', None, "expected 'cache' (clear program cache), found end of line", 'clear program without cache')
stmt('clear_what', '  clear cache', 'cache', "expected 'program' (clear program cache), found 'cache'", 'clear cache without program')
# trace
stmt('trace_missing_verb', '  trace', None, 'expected begin, end, replay or release, found end of line', 'trace without a verb')
stmt('trace_bad_verb', '  trace start 0', 'start', "expected begin, end, replay or release, found 'start'", 'trace start (it is begin)')
stmt('trace_end_unknown', '  trace end 7 size=1MiB', '7', "expected a trace begun earlier in this process, found '7'", 'end of a trace never begun')
stmt('trace_end_no_size', '  trace begin 0\n  trace end 0', None, 'expected size=, found end of line', 'trace end without size=')
stmt('trace_replay_no_times', '  trace begin 0\n  trace end 0 size=1MiB\n  trace replay 0 5', None, "expected 'times', found end of line", 'a replay count without times')
stmt('trace_step_no_unit', '  trace begin 0\n  trace end 0 size=1MiB\n  trace replay 0 step=5', '5', "expected a time with unit ns, us, ms or s, found '5'", 'a step time without a unit')
stmt('trace_step_bad_unit', '  trace begin 0\n  trace end 0 size=1MiB\n  trace replay 0 step=5min', '5min', "expected a time unit ns, us, ms or s, found '5min'", 'minutes are not a time unit')
stmt('trace_step_overflow', '  trace begin 0\n  trace end 0 size=1MiB\n  trace replay 0 step=18446744074s', '1844', "expected a time below 2^64 ns, found '18446744074s'", 'a step time of more than 2^64 ns')
# decode, wait, query, phase
stmt('decode_missing_count', '  decode steps', 'steps', "expected a number of decode steps, found 'steps'", 'decode without a count')
stmt('decode_no_steps_word', '  decode 10', None, "expected 'steps', found end of line", 'decode without the word steps')
stmt('decode_count_overflow', '  decode 99999999999999999999 steps', '9999', "expected a number of decode steps up to 18446744073709551615, found '99999999999999999999'", 'a decode count that overflows 64 bits')
stmt('decode_option_no_equals', '  decode 10 steps trace 0', '0', "expected '=', found '0'", 'trace without =', nth=2)
stmt('decode_unknown_trace', '  decode 10 steps trace=0', '0', "expected a trace begun earlier in this process, found '0'", 'decode replaying a trace never begun', nth=2)
stmt('wait_missing', '  wait', None, 'expected a time with unit ns, us, ms or s, found end of line', 'wait without a time')
stmt('wait_no_unit', '  wait 10', '10', "expected a time with unit ns, us, ms or s, found '10'", 'wait without a unit')
stmt('wait_negative', '  wait -5ms', '-', "expected a time with unit ns, us, ms or s, found '-'", 'a negative time')
stmt('query_bad_selection', '  query dev', None, 'expected a device id, found end of line', 'query dev without a device')
stmt('query_extra', '  query dev 0 now', 'now', "expected end of line, found 'now'", 'query with a stray word')
stmt('phase_empty', '  phase', None, 'expected a phase label, found end of line', 'phase without a label')
stmt('phase_tab', '  phase load\tweights', 'load', 'expected a phase label without tabs, found a tab', 'a tab inside a phase label (timelines are tab-separated); the column is the label\'s')
# repeat and nesting
stmt('repeat_missing_brace', '  repeat 3', None, "expected '{', found end of line", 'repeat without {')
stmt('repeat_missing_count', '  repeat {', '{', "expected a repeat count, found '{'", 'repeat without a count')
stmt('repeat_count_overflow', '  repeat 18446744073709551616 {', '1844', "expected a repeat count up to 18446744073709551615, found '18446744073709551616'", 'a repeat count of 2^64')
stmt('repeat_same_line', '  repeat 3 { dump', 'dump', "expected end of line, found 'dump'", 'a statement on the line of {')
t = HEAD + "  repeat 3 {\n    dump\n"
case('repeat_unclosed', t, 6, 1, "expected '}' to close the repeat of line 4, found end of file", 'a repeat never closed')
t = HEAD + "  repeat 3 {\n    dump\nprocess q\n  open\n"
case('repeat_unclosed_process', t, 6, 1, "expected '}' to close the repeat of line 4, found 'process'", 'a repeat still open when the next process starts')
stmt('repeat_stray_close', '  }', '}', "expected a statement ('}' closes nothing here), found '}'", 'a } that closes nothing')
t = HEAD + "  repeat 2 {\n    dump\n  } now\n"
case('repeat_close_extra', t, 6, col_of(t, 6, 'now'), "expected end of line, found 'now'", 'a word after }')
t = HEAD + ''.join('  ' * (i + 1) + 'repeat 2 {\n' for i in range(17))
case('repeat_too_deep', t, 4 + 16, 35, 'expected at most 16 nested repeat blocks, found more', 'seventeen nested repeat blocks')
t = HEAD + "  repeat 2 {\n    exit\n  }\n"
case('exit_in_repeat', t, 5, 5, "expected a statement allowed inside repeat (exit and crash end the process), found 'exit'", 'exit inside a repeat')
t = HEAD + "  exit\n  dump\n"
case('statement_after_exit', t, 5, 3, "expected the end of the process (nothing may follow exit or crash), found 'dump'", 'a statement after exit')
# expect
stmt('expect_missing', '  expect', None, 'expected dump, query, kernels, shm or error, found end of line', 'expect without anything')
stmt('expect_error_no_text', '  expect error', None, 'expected the text the error must contain, found end of line', 'expect error without a text')
t = HEAD + "  expect error out of memory\n"
case('expect_error_dangling', t, 5, 1, "expected a statement after the 'expect error' of line 4, found end of file", 'expect error as the last statement')
t = HEAD + "  expect error out of memory\n  expect error budget\n  dump\n"
case('expect_error_twice', t, 5, 3, "expected a statement after 'expect error', found another 'expect error'", 'two expect error in a row')
t = HEAD + "  expect error x\n  repeat 2 {\n    dump\n  }\n"
case('expect_error_repeat', t, 5, 3, "expected a statement that can fail after 'expect error', found 'repeat'", 'expect error before a repeat')
stmt('expect_dump_unknown_type', '  dump\n  expect dump HBM: none', 'HBM', "expected a buffer type (DRAM, L1, SYSTEM_MEMORY, L1_SMALL, TRACE), a device selection, total, perfect, has, lacks, cleaned or matches model, found 'HBM'", 'an unknown buffer type')
stmt('expect_dump_no_colon', '  dump\n  expect dump DRAM none', 'none', "expected ':', found 'none'", 'an expectation without :')
stmt('expect_dump_nothing', '  dump\n  expect dump DRAM:', None, 'expected none, N buffers, SIZE bytes or at ADDR, found end of line', 'an expectation without a condition')
stmt('expect_dump_none_and_count', '  dump\n  expect dump DRAM: none, 3 buffers', None, "expected 'none' alone, found it with other conditions", 'none with a count')
stmt('expect_dump_count_fraction', '  dump\n  expect dump DRAM: 1.5 buffers', '1.5', "expected a buffer count, found '1.5'", 'half a buffer')
stmt('expect_dump_bytes_no_type', '  dump\n  expect dump: 12 bytes', None, "expected a buffer type after 'expect dump' (bytes and at need one), found none", 'bytes without a buffer type')
stmt('expect_dump_matches', '  dump\n  expect dump matches', None, "expected 'model', found end of line", 'matches without model')
stmt('expect_has_unknown', '  dump\n  expect dump has ghost', 'ghost', "expected a buffer that process p allocates, found 'ghost'", 'has names a buffer nobody allocates')
stmt('expect_has_unknown_process', '  dump\n  expect dump has q.w', 'q.w', "expected PROCESS.BUFFER with a declared process, found 'q.w'", 'has names a buffer of an undeclared process')
stmt('expect_has_bad_ref', '  alloc w DRAM 1MiB\n  dump\n  expect dump has w ref_count=-1', '-', "expected a ref count, found '-'", 'a negative ref count')
stmt('expect_owner_unknown', '  alloc w DRAM 1MiB\n  dump\n  expect dump has w owner=q', 'q', "expected a process name, found 'q'", 'owner= names an undeclared process', nth=1)
stmt('expect_cleaned_no_name', '  dump\n  expect dump cleaned', None, 'expected a process name, found end of line', 'cleaned without a process')
stmt('expect_total_no_count', '  dump\n  expect dump total', None, 'expected a number of buffers, found end of line', 'total without a count')
# send
stmt('send_bad_kind', '  send dump dev 0', 'dump', "expected alloc, free, query, cb_alloc, cb_free, kernel_load, kernel_unload or dump_kernels, found 'dump'", 'send of a kind it cannot build')
stmt('send_missing_dev', '  send query 0', '0', "expected dev N, found '0'", 'send without dev')
stmt('send_device_overflow', '  send query dev 2147483648', '2147483648', "expected a device id up to 2147483647, found '2147483648'", 'a device id beyond int32')
stmt('send_bad_type', '  send alloc dev 0 size=1KiB type=HBM id=1', 'HBM', "expected a buffer type (DRAM, L1, SYSTEM_MEMORY, L1_SMALL, TRACE or 0..255), found 'HBM'", 'an unknown buffer type')
stmt('send_type_overflow', '  send alloc dev 0 size=1KiB type=256 id=1', '256', "expected a buffer type up to 255, found '256'", 'a buffer type beyond a byte')
stmt('send_missing_id', '  send free dev 0', None, 'expected id=, found end of line', 'send free without id=')

# ---- errors found while simulating (exit 2, located at the statement) -----------------------------
stmt('run_device_oom', '  alloc w DRAM 100GiB', 'alloc', 'out of memory: DRAM on device 0: request 107374182400 bytes…largest free block…', 'a buffer larger than the device')
stmt('run_alloc_twice', '  alloc a DRAM 1MiB\n  alloc a DRAM 1MiB', 'alloc', 'expected buffer a to be free, found it allocated (free it first)', 'a live buffer allocated again')
stmt('run_free_twice', '  alloc a DRAM 1MiB\n  free a\n  free a', 'free', 'expected buffer a to be allocated, found it …freed…', 'a buffer freed twice')
stmt('run_trace_budget', '  trace begin 0\n  trace end 0 size=1MiB', 'trace', 'out of memory: …', 'a trace on a mesh without a trace region')
stmt('run_decode_time_overflow', '  decode 18446744073709551615 steps step=1s', 'decode', 'expected a decode time below 2^64 ns, found 18446744073709551615 x 1000000000 ns', 'decode steps whose total time overflows 64 bits')
stmt('run_device_beyond_revision', '  alloc w DRAM 1MiB on dev 8', 'alloc', 'expected …', 'a device the mesh does not have')
# ---- limits (small limits given on the command line) ----------------------------------------------
stmt('limit_frames', '  repeat 100000000 {\n    alloc a L1 4KiB\n    free a\n  }', 'alloc', "stopped after 1000 frames: the run's frame limit (--max-frames)", 'a churn loop of 2*10^8 frames, stopped by --max-frames 1000', args='--max-frames 1000', at=5)
t = HEAD + "  repeat 1000000000 {\n    wait 1ns\n  }\n"
case('limit_statements', t, 5, 5, "stopped after 10000 statements: the run's statement limit (--max-statements)", '10^9 statements that send nothing, stopped by --max-statements 10000', '--max-statements 10000', False, True)
t = HEAD + "  repeat 1000000000000 {\n    repeat 7 {\n    }\n  }\n"
case('limit_empty_repeats', t, 5, 5, "stopped after 10000 statements: the run's statement limit (--max-statements)", 'nested repeats with an empty body (10^12 iterations of nothing)', '--max-statements 10000', False, True)
t = "protocol v144-256\nmesh galaxy devices=256\nprocess p\n  open\n  alloc a DRAM 1MiB\n  alloc b DRAM 1MiB\n  alloc c DRAM 1MiB\n"
case('limit_buffers', t, 6, 3, "stopped at 301 buffers held by the server: the run's buffer limit (--max-buffers)", '768 buffers (256 devices x 3), stopped by --max-buffers 300', '--max-buffers 300', False, True)

# ---- CBs, kernels and the client (issue 14) ---------------------------------------------------------
stmt('program_cbs_missing', '  program p cbs=', None, 'expected a size …, found end of line', 'cbs= without sizes')
stmt('program_cbs_zero', '  program p cbs=4KiB,0', '0', 'expected a CB size above 0, found 0', 'a CB of 0 bytes')
stmt('program_cbs_overflow', '  program p cbs=20000000TiB', '20000000TiB', "expected a size below 2^64 bytes, found '20000000TiB'", 'a CB size that overflows 64 bits')
stmt('program_kernel_type_range', '  program p binary=4KiB kernel_type=3', '3', "expected a kernel type up to 2, found '3'", 'a kernel type out of range (0 Application, 1 Fabric, 2 Dispatch)')
stmt('program_kernel_type_word', '  program p binary=4KiB kernel_type=compute', 'compute', "expected a kernel type (application, fabric, dispatch or 0..2), found 'compute'", 'an unknown kernel type name')
stmt('program_kernel_twice', '  program p kernel=4KiB kernel=8KiB', 'kernel', "expected binary=, cbs=, kernel=, kernel_type=, kernel_id=, cores= (each once) or end of line, found 'kernel'", 'kernel= given twice', nth=2)
stmt('program_kernel_id_overflow', '  program p kernel=4KiB kernel_id=18446744073709551616', '18446744073709551616', "expected a kernel id up to 18446744073709551615, found '18446744073709551616'", 'a kernel id beyond 64 bits')
stmt('program_cores_missing', '  program p kernel=4KiB cores=', None, 'expected a core count, found end of line', 'cores= without a number')
stmt('program_cbs_beyond_l1', '  program p cbs=1MiB,1MiB', 'program', 'out of memory: CBs of program p end at … beyond L1 …', 'CBs that do not fit in L1')
stmt('client_missing', '  client', None, 'expected a client option KEY=VALUE, found end of line', 'client without options')
stmt('client_unknown', '  client fast_dispatch=on', 'fast_dispatch', "expected a client option (…), found 'fast_dispatch'", 'an unknown client option')
stmt('client_bad_value', '  client frees=device1', 'device1', "expected all or device0 or none or auto for frees, found 'device1'", 'a client option with a value it does not take')
stmt('client_twice', '  client cbs=none cbs=l1_alloc', 'l1_alloc', 'expected each client option once, found cbs twice', 'the same client option twice')
case('client_top_bad', "client kernels=maybe\nmesh n150\nprocess p\n  open\n", 1, 16, "expected on or off or auto for kernels, found 'maybe'", 'a bad top-level client option')
stmt('send_cb_alloc_missing_size', '  send cb_alloc dev 0 id=101152', 'id', "expected size=, found 'id'", 'send cb_alloc without size=')
stmt('send_cb_free_size_overflow', '  send cb_free dev 0 size=99999999999999999999 id=101152', '99999999999999999999', "expected a size below 2^64 bytes, found '99999999999999999999'", 'a CB_FREE size that overflows')
stmt('send_kernel_load_missing_type', '  send kernel_load dev 0 size=56KiB id=1', None, 'expected type=, found end of line', 'send kernel_load without type=')
stmt('send_kernel_load_type_range', '  send kernel_load dev 0 size=56KiB id=1 type=256', '256', "expected a kernel type up to 255, found '256'", 'a kernel type beyond a byte')
stmt('send_kernel_unload_missing_id', '  send kernel_unload dev 0 size=56KiB', None, 'expected id=, found end of line', 'send kernel_unload without id=')
stmt('send_dump_kernels_extra', '  send dump_kernels dev 0', 'dev', "expected end of line, found 'dev'", 'send dump_kernels takes no device')
stmt('dump_kernels_extra', '  dump kernels now', 'now', "expected end of line, found 'now'", 'dump kernels with a trailing word')
stmt('dump_bad_word', '  dump buffers', 'buffers', "expected end of line or 'kernels', found 'buffers'", 'dump with a word other than kernels')
stmt('expect_query_empty', '  query\n  expect query:', None, 'expected dram=, l1=, l1_small=, trace=, cb= or kernel=, found end of line', 'expect query without fields')
stmt('expect_query_bad_field', '  query\n  expect query: cbs=1', 'cbs', "expected dram=, l1=, l1_small=, trace=, cb= or kernel= (each once), found 'cbs'", 'a misspelt query field')
stmt('expect_query_overflow', '  query\n  expect query: cb=20000000TiB', '20000000TiB', "expected a size below 2^64 bytes, found '20000000TiB'", 'a query value that overflows')
stmt('expect_kernels_bad', '  dump kernels\n  expect kernels on all: 4 buffers', 'buffers', "expected 'kernels' or 'bytes', found 'buffers'", 'kernels counted as buffers')
stmt('expect_kernels_none_mixed', '  dump kernels\n  expect kernels: none, 4 kernels', None, "expected 'none' alone, found it with other conditions", 'none with a count')
stmt('expect_kernels_without_dump', '  expect kernels total 4', 'expect', "expected a 'dump kernels' earlier in process p, found none", 'a kernel expectation before any dump kernels')
stmt('expect_cleaned_bad_unit', '  dump\n  expect dump cleaned p 4 widgets', 'widgets', "expected 'buffers', 'cbs' or 'kernels' (each at most once), found 'widgets'", 'cleaned with an unknown count')
mesh('mesh_kernel_size_bad', 'mesh n150 kernel_size=per_device', 'per_device', "expected binary or per_core, found 'per_device'", 'a kernel size mode that does not exist')
mesh('mesh_eth_cores_overflow', 'mesh n150 eth_cores=99999999', '99999999', "expected a core count up to 1048576, found '99999999'", 'an Ethernet core count out of range')

# ---- SHM tracking: mesh options and `expect shm` (docs/shm-transport.md, docs/scenarios.md) ----
mesh('mesh_shm_layout_unknown', 'mesh n150 shm_layout=v5', 'v5', "expected an SHM layout (v1-K, v1-N, v1-A, v2a, v2b, v3, v4, v4a, v4b or v4c), found 'v5'", 'an SHM layout that does not exist')
mesh('mesh_shm_layout_missing', 'mesh n150 shm_layout=', None, "expected an SHM layout (v1-K, v1-N, v1-A, v2a, v2b, v3, v4, v4a, v4b or v4c), found end of line", 'shm_layout without a value')
mesh('mesh_shm_idle_reset_v2b', 'mesh n150 shm_idle_reset=on shm_layout=v2b', 'shm_idle_reset', "expected an option of SHM layout v2b, found shm_idle_reset (it applies to v4b and v4c only)", 'an option the layout does not take (written before the layout)')
mesh('mesh_shm_region_size_v4', 'mesh n150 shm_region_size=8640', 'shm_region_size', "expected an option of SHM layout v4c, found shm_region_size (it applies to v1-A only)", 'v1-A padding on the default layout v4')
mesh('mesh_shm_claim_v1k', 'mesh n150 shm_layout=v1-K shm_claim=cas', 'shm_claim', "expected an option of SHM layout v1-K, found shm_claim (it applies to v2a, v2b and v3 only)", 'the v2/v3 claim option on a v1 layout')
mesh('mesh_shm_region_size_bad', 'mesh n150 shm_layout=v1-A shm_region_size=9000', '9000', "expected shm_region_size 8640 or 8576 (v1-A), found 9000", 'a v1-A region size no header has')
mesh('mesh_shm_per_pid_bad', 'mesh n150 shm_per_pid=yes', 'yes', "expected on or off, found 'yes'", 'per-PID tracking neither on nor off')
mesh('mesh_shm_cb_update_v3', 'mesh n150 shm_layout=v3 shm_cb_update=delta', 'shm_cb_update', "expected an option of SHM layout v3, found shm_cb_update (it applies to v4a, v4b and v4c only)", 'the update_from_allocator variant before v4 (only the absolute one existed)')
mesh('mesh_shm_cb_update_bad', 'mesh n150 shm_layout=v4b shm_cb_update=relative', 'relative', "expected absolute or delta, found 'relative'", 'an update_from_allocator variant that does not exist')
mesh('mesh_shm_cb_era_v4', 'mesh n150 shm_cb_era=update', 'shm_cb_era', "expected an option of SHM layout v4c, found shm_cb_era (it applies to v1-K only)", 'the v1-K era choice on the default layout v4')
mesh('mesh_shm_cb_era_bad', 'mesh n150 shm_layout=v1-K shm_cb_era=G3', 'G3', "expected records or update, found 'G3'", 'a v1-K CB era that is neither records nor update')
mesh('mesh_shm_cb_rate_limit_delta', 'mesh n150 shm_layout=v4b shm_cb_rate_limit=10ms', 'shm_cb_rate_limit', "expected an option of SHM layout v4b, found shm_cb_rate_limit (it applies to the absolute update_from_allocator only: v1-N, v1-A, v2a, v2b, v3, v4a, v1-K with shm_cb_era=update, v4b and v4c with shm_cb_update=absolute)", 'a rate limit on the delta variant, which is unthrottled')
mesh('mesh_shm_cb_rate_limit_records', 'mesh n150 shm_cb_rate_limit=off shm_layout=v1-K', 'shm_cb_rate_limit', "expected an option of SHM layout v1-K, found shm_cb_rate_limit (it applies to the absolute update_from_allocator only: …)", 'a rate limit in the v1-K records era, which has no update_from_allocator (written before the layout)')
mesh('mesh_shm_cb_rate_limit_unitless', 'mesh n150 shm_layout=v3 shm_cb_rate_limit=100', '100', "expected a time with unit ns, us, ms or s, found '100'", 'a rate limit without its time unit')
mesh('mesh_shm_cb_rate_limit_word', 'mesh n150 shm_layout=v3 shm_cb_rate_limit=never', 'never', "expected a time with unit ns, us, ms or s, or off, found 'never'", 'a rate limit that is neither a time nor off')
mesh('mesh_shm_cb_rate_limit_range', 'mesh n150 shm_layout=v2b shm_cb_rate_limit=1ms..2ms', '1ms', "expected one shm_cb_rate_limit time, found a range", 'a rate limit given as a range (the interval is one value)')
stmt('expect_shm_unknown_form', '  dump\n  expect shm totals TRACE: 0', 'totals', "expected total, process, active, refcount, version, init, file or matches model after 'expect shm', found 'totals'", 'an expect shm form that does not exist')
stmt('expect_shm_bad_counter', '  dump\n  expect shm total SYSTEM_MEMORY: 0', 'SYSTEM_MEMORY', "expected a region counter (DRAM, L1, L1_SMALL, TRACE, CB or KERNEL), found 'SYSTEM_MEMORY'", 'a type the region has no counter for')
stmt('expect_shm_missing_colon', '  dump\n  expect shm total TRACE 0', '0', "expected a device selection (on all, on dev N, on devs N..M) or ':', found '0'", 'a total without its colon')
stmt('expect_shm_unknown_process', '  dump\n  expect shm process q: DRAM=1MiB', 'q', "expected a process name, found 'q'", 'a slot of a process the scenario does not have')
stmt('expect_shm_counter_twice', '  dump\n  expect shm process p: DRAM=1MiB, DRAM=2MiB', 'DRAM', "expected each counter at most once, found DRAM twice", 'a slot counter written twice', nth=2)
stmt('expect_shm_slot_empty', '  dump\n  expect shm process p:', None, "expected TYPE=SIZE (DRAM, L1, L1_SMALL, TRACE, CB, KERNEL), none or present, found end of line", 'a slot expectation without a condition')
stmt('expect_shm_init_bad', '  dump\n  expect shm init: DONE', 'DONE', "expected READY, IN_PROGRESS or UNINITIALIZED, found 'DONE'", 'an init state that does not exist')
stmt('expect_shm_file_bad', '  dump\n  expect shm file: gone', 'gone', "expected present or absent, found 'gone'", 'a file state that does not exist')
stmt('expect_shm_matches_what', '  dump\n  expect shm matches golden', 'golden', "expected 'model', found 'golden'", 'matches something else than the model')
stmt('expect_shm_trailing', '  dump\n  expect shm active: 1 2', '2', "expected end of line, found '2'", 'a second number after the count')
stmt('expect_shm_without_dump', '  expect shm total TRACE: 0', 'expect', "expected a dump earlier in process p, found none", 'an SHM expectation before any dump')

for name, text, line, col, msg, comment, args, binary, live in cases:
    data = text if isinstance(text, bytes) else text.encode('utf-8')
    with open(os.path.join(out, name + '.scn'), 'wb') as f:
        f.write(data)
    with open(os.path.join(out, name + '.scn.expect'), 'w') as f:
        f.write('# ' + comment + '\n')
        if args:
            f.write('args ' + args + '\n')
        f.write('error ^@FILE@:%d:%d: %s$\n' % (line, col, pat(msg)))
print(len(cases), 'scenario cases')

# ---- too many processes and meshes (each process is a real child in a live run) ------------------
big = "mesh n150\n" + ''.join("process p%d\n  open\n" % i for i in range(1025))
with open(os.path.join(out, 'processes_1025.scn'), 'w') as f:
    f.write(big)
with open(os.path.join(out, 'processes_1025.scn.expect'), 'w') as f:
    f.write('# 1025 processes: one more than a scenario may have\n')
    f.write('error ^@FILE@:%d:1: expected at most 1024 processes, found more$\n' % (2 + 2 * 1024))
big = ''.join("mesh n150 as m%d\n" % i for i in range(1025)) + "process p\n  open m0\n"
with open(os.path.join(out, 'meshes_1025.scn'), 'w') as f:
    f.write(big)
with open(os.path.join(out, 'meshes_1025.scn.expect'), 'w') as f:
    f.write('# 1025 mesh declarations: one more than a scenario may have\n')
    f.write('error ^@FILE@:1025:1: expected at most 1024 meshes, found more$\n')
