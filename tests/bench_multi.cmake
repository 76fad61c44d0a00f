# benchmark (not a test): single-threaded timing of kern_matmul_rows for
# batched decode, per weight type and batch size (tests/bench/multi_bench.c)
add_executable(quarry-multi-bench ${QUARRY_TESTS_DIR}/bench/multi_bench.c)
target_link_libraries(quarry-multi-bench PRIVATE qengine)
set_target_properties(quarry-multi-bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
