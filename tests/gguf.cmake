# GGUF reader/writer tests: round trips of every metadata and tensor type,
# and robustness of gguf_open / qe_model_load against thousands of mutated
# files. Both also run in the sanitizer tree (-DQUARRY_SANITIZE=ON).

# quarry-mkmodel finds Qwen3's tokenizer in this source tree even when the
# build directory lives elsewhere.
target_compile_definitions(quarry-mkmodel PRIVATE QUARRY_SOURCE_DIR="${CMAKE_SOURCE_DIR}")

add_executable(test_gguf ${QUARRY_TESTS_DIR}/test_gguf.c)
target_link_libraries(test_gguf PRIVATE qengine)
add_test(NAME gguf COMMAND test_gguf ${QUARRY_TEST_MODELS})

add_executable(test_gguf_mutate ${QUARRY_TESTS_DIR}/test_gguf_mutate.c)
target_link_libraries(test_gguf_mutate PRIVATE qengine)
# Until engine/model.c provides qe_model_load the test exercises gguf_open
# only; the switch flips by itself when the file appears (the engine's
# source glob re-runs CMake).
if(EXISTS ${CMAKE_SOURCE_DIR}/engine/model.c)
  target_compile_definitions(test_gguf_mutate PRIVATE QUARRY_HAVE_MODEL_LOAD=1)
endif()
# args: scratch dir, mutation count, seed, quarry-mkmodel (for one real-size
# file whose handful of mutations go through qe_model_load too)
add_test(NAME gguf_mutate
         COMMAND test_gguf_mutate ${QUARRY_TEST_MODELS} 5000 12345 $<TARGET_FILE:quarry-mkmodel>)
set_tests_properties(gguf_mutate PROPERTIES TIMEOUT 300)

# libFuzzer target: gguf_open_mem on arbitrary bytes. gguf.c is compiled
# into the target itself so that it gets the fuzzer's coverage
# instrumentation (the qengine library is built without it).
if(QUARRY_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "QUARRY_FUZZ needs clang (CC=clang)")
  endif()
  add_executable(fuzz_gguf ${QUARRY_TESTS_DIR}/fuzz/fuzz_gguf.c ${CMAKE_SOURCE_DIR}/engine/gguf.c)
  target_include_directories(fuzz_gguf PRIVATE ${CMAKE_SOURCE_DIR}/engine)
  target_compile_options(fuzz_gguf PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_gguf PRIVATE -fsanitize=fuzzer)
endif()
