# k-quants (Q4_K / Q6_K, the mix inside Q4_K_M files): formats and kernels
# against their references, and logits parity against llama.cpp and the
# exact double-precision reference (tests/ref/parity.mjs --set kquant).
add_executable(test_kernels_k ${QUARRY_TESTS_DIR}/test_kernels_k.c)
target_link_libraries(test_kernels_k PRIVATE qengine)
add_test(NAME kernels_k COMMAND test_kernels_k)

add_test(NAME logits_parity_k
         COMMAND node ${QUARRY_REF_DIR}/parity.mjs --set kquant --bin ${CMAKE_BINARY_DIR} --dir ${QUARRY_TEST_MODELS}/parity_k)
set_tests_properties(logits_parity_k PROPERTIES LABELS parity TIMEOUT 1200)

# model-info names a Q4_K_M file by its mix (general.file_type), not by its
# dominant type alone; the tiny shape's rows of 64 are no k-quant's, so this
# model has rows of 256
add_test(NAME make_test_model_q4km
         COMMAND $<TARGET_FILE:quarry-mkmodel> --out ${QUARRY_TEST_MODELS}/info-q4km.gguf --type Q4_K_M
                 --layers 2 --embd 256 --heads 2 --kv-heads 1 --head-dim 128 --ffn 512)
set_tests_properties(make_test_model_q4km PROPERTIES FIXTURES_SETUP q4km_model)
add_test(NAME model_info_q4km COMMAND $<TARGET_FILE:quarry> model-info --model ${QUARRY_TEST_MODELS}/info-q4km.gguf)
set_tests_properties(model_info_q4km PROPERTIES FIXTURES_REQUIRED q4km_model
                     PASS_REGULAR_EXPRESSION "weight type: +Q4_K_M \\(mostly Q4_K\\)")
