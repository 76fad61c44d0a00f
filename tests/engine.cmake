# Engine tests: kernels vs references, forward pass behaviour, chat template,
# logits parity with llama.cpp and with an exact double-precision reference.
add_executable(test_kernels ${QUARRY_TESTS_DIR}/test_kernels.c)
target_link_libraries(test_kernels PRIVATE qengine)
add_test(NAME kernels COMMAND test_kernels)

# exact reference forward pass (double precision, naive)
add_executable(quarry-ref-qwen3 ${QUARRY_TESTS_DIR}/ref_qwen3.c)
target_link_libraries(quarry-ref-qwen3 PRIVATE qengine)
set_target_properties(quarry-ref-qwen3 PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})

# chat template vs the official Jinja template
add_executable(test_chat_render ${QUARRY_TESTS_DIR}/chat/render.c)
target_link_libraries(test_chat_render PRIVATE qengine PkgConfig::JANSSON)
add_test(NAME chat_template COMMAND node ${QUARRY_TESTS_DIR}/ref/chat_compare.mjs $<TARGET_FILE:test_chat_render>)

# forward pass and sampler behaviour on a small synthetic model
add_executable(test_forward ${QUARRY_TESTS_DIR}/test_forward.c)
target_link_libraries(test_forward PRIVATE qengine)
add_test(NAME make_test_model
         COMMAND $<TARGET_FILE:quarry-mkmodel> --out ${QUARRY_TEST_MODELS}/fwd.gguf
                 --layers 2 --embd 64 --heads 4 --kv-heads 2 --head-dim 32 --ffn 96 --scale 0.2 --seed 7)
set_tests_properties(make_test_model PROPERTIES FIXTURES_SETUP fwd_model)
add_test(NAME forward COMMAND test_forward ${QUARRY_TEST_MODELS}/fwd.gguf)
set_tests_properties(forward PROPERTIES FIXTURES_REQUIRED fwd_model)

# logits parity: ours vs llama.cpp (node-llama-cpp) vs exact double-precision
# math, 3 shapes x 4 weight types (see tests/ref/parity.mjs for the bounds)
add_test(NAME logits_parity
         COMMAND node ${QUARRY_REF_DIR}/parity.mjs --bin ${CMAKE_BINARY_DIR} --dir ${QUARRY_TEST_MODELS}/parity)
set_tests_properties(logits_parity PROPERTIES LABELS parity TIMEOUT 1200)

# continuous batching scheduler and prefix cache
add_executable(test_sched ${QUARRY_TESTS_DIR}/test_sched.c)
target_link_libraries(test_sched PRIVATE qengine)
add_test(NAME scheduler COMMAND test_sched ${QUARRY_TEST_MODELS}/fwd.gguf)
set_tests_properties(scheduler PROPERTIES FIXTURES_REQUIRED fwd_model)

# batch invariance of the decode kernels, with the CPU's best kernels and
# with AVX-512 switched off (the AVX2 / portable paths)
add_executable(test_invariance ${QUARRY_TESTS_DIR}/test_invariance.c)
target_link_libraries(test_invariance PRIVATE qengine m)
add_test(NAME kernels_invariance COMMAND test_invariance)
add_test(NAME kernels_invariance_noavx512 COMMAND test_invariance)
set_tests_properties(kernels_invariance_noavx512 PROPERTIES ENVIRONMENT QUARRY_NO_AVX512=1)

# attention over the paged KV cache: reference and batch invariance
add_executable(test_attention ${QUARRY_TESTS_DIR}/test_attention.c)
target_link_libraries(test_attention PRIVATE qengine m)
add_test(NAME attention COMMAND test_attention)
add_test(NAME attention_noavx512 COMMAND test_attention)
set_tests_properties(attention_noavx512 PROPERTIES ENVIRONMENT QUARRY_NO_AVX512=1)

# deterministic mode: bitwise equal logits across batch shapes, threads and
# prefix-cache state, on an F32 and a Q8_0 model
add_executable(test_determinism ${QUARRY_TESTS_DIR}/test_determinism.c)
target_link_libraries(test_determinism PRIVATE qengine m)
add_test(NAME make_test_model_q8
         COMMAND $<TARGET_FILE:quarry-mkmodel> --out ${QUARRY_TEST_MODELS}/fwd-q8.gguf --type Q8_0
                 --layers 2 --embd 64 --heads 4 --kv-heads 2 --head-dim 32 --ffn 96 --scale 0.2 --seed 7)
set_tests_properties(make_test_model_q8 PROPERTIES FIXTURES_SETUP fwd_model_q8)
add_test(NAME determinism COMMAND test_determinism ${QUARRY_TEST_MODELS}/fwd.gguf)
set_tests_properties(determinism PROPERTIES FIXTURES_REQUIRED fwd_model)
add_test(NAME determinism_q8 COMMAND test_determinism ${QUARRY_TEST_MODELS}/fwd-q8.gguf)
set_tests_properties(determinism_q8 PROPERTIES FIXTURES_REQUIRED fwd_model_q8)
