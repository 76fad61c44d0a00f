# k-quants (Q4_K / Q6_K, the mix inside Q4_K_M files): formats and kernels
# against their references, and logits parity against llama.cpp and the
# exact double-precision reference (tests/ref/parity.mjs --set kquant).
add_executable(test_kernels_k ${QUARRY_TESTS_DIR}/test_kernels_k.c)
target_link_libraries(test_kernels_k PRIVATE qengine)
add_test(NAME kernels_k COMMAND test_kernels_k)

add_test(NAME logits_parity_k
         COMMAND node ${QUARRY_REF_DIR}/parity.mjs --set kquant --bin ${CMAKE_BINARY_DIR} --dir ${QUARRY_TEST_MODELS}/parity_k)
set_tests_properties(logits_parity_k PROPERTIES LABELS parity TIMEOUT 1200)
