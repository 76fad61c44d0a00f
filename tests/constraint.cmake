# JSON-Schema constrained decoding (pipeline/constraint.c): byte-level
# grammar tests, token-level tests and a property test on tiny synthetic
# models, and `quarry generate --schema` end to end. All of them also run in
# the sanitizer tree (the property test sizes itself down there).
set(JC_TEST_DIR ${QUARRY_TESTS_DIR}/constraint)
set(JC_MODEL_A ${QUARRY_TEST_MODELS}/jc-tiny32.gguf)
set(JC_MODEL_B ${QUARRY_TEST_MODELS}/jc-tiny64.gguf)

# two tiny models: random weights = random preferences
add_test(NAME constraint_make_models
         COMMAND sh -c "'$<TARGET_FILE:quarry-mkmodel>' --out '${JC_MODEL_A}' --layers 1 --embd 32 --heads 2 \
--kv-heads 1 --head-dim 16 --ffn 48 --scale 0.5 --seed 3 && '$<TARGET_FILE:quarry-mkmodel>' --out '${JC_MODEL_B}' \
--layers 2 --embd 64 --heads 4 --kv-heads 2 --head-dim 16 --ffn 96 --scale 0.3 --seed 11")
set_tests_properties(constraint_make_models PROPERTIES FIXTURES_SETUP jc_models)

# (a) the grammar byte by byte, no model
add_executable(test_constraint_grammar ${JC_TEST_DIR}/test_grammar.c)
target_link_libraries(test_constraint_grammar PRIVATE qpipeline PkgConfig::JANSSON)
add_test(NAME constraint_grammar COMMAND test_constraint_grammar)

# (b) masks over the real vocabulary vs brute force, think mode, stage
add_executable(test_constraint_tokens ${JC_TEST_DIR}/test_tokens.c)
target_link_libraries(test_constraint_tokens PRIVATE qpipeline PkgConfig::JANSSON)
add_test(NAME constraint_tokens COMMAND test_constraint_tokens ${JC_MODEL_A})
set_tests_properties(constraint_tokens PROPERTIES FIXTURES_REQUIRED jc_models TIMEOUT 300)

# (c) property test: random schemas x models x seeds x sampling settings
add_executable(test_constraint_prop ${JC_TEST_DIR}/test_prop.c)
target_link_libraries(test_constraint_prop PRIVATE qpipeline PkgConfig::JANSSON)
add_test(NAME constraint_prop
         COMMAND test_constraint_prop --cases 150 --noise-cases 600 ${JC_MODEL_A} ${JC_MODEL_B})
set_tests_properties(constraint_prop PROPERTIES FIXTURES_REQUIRED jc_models TIMEOUT 300)

# (d) quarry generate --schema end to end: raw prompt, chat without
# thinking, thinking with a budget; and a bad schema refused up front
set(JC_CLI ${CMAKE_COMMAND} -DQUARRY=$<TARGET_FILE:quarry> -DMODE=valid)
add_test(NAME constraint_cli_generate
         COMMAND ${JC_CLI} "-DARGS=--model;${JC_MODEL_B};--prompt;Extract;--schema;${JC_TEST_DIR}/cli_schema.json;--json;--max-tokens;300;--seed;4"
                 -P ${JC_TEST_DIR}/cli_check.cmake)
add_test(NAME constraint_cli_chat
         COMMAND ${JC_CLI} "-DARGS=--model;${JC_MODEL_A};--prompt;Extract;--chat;--no-think;--schema;${JC_TEST_DIR}/cli_schema.json;--json;--max-tokens;300;--temperature;0"
                 -P ${JC_TEST_DIR}/cli_check.cmake)
add_test(NAME constraint_cli_think_budget
         COMMAND ${JC_CLI} -DEXPECT_BUDGET=1 "-DARGS=--model;${JC_MODEL_A};--prompt;Extract;--chat;--think;--thinking-budget;8;--schema;${JC_TEST_DIR}/cli_schema.json;--json;--max-tokens;300;--seed;9"
                 -P ${JC_TEST_DIR}/cli_check.cmake)
set_tests_properties(constraint_cli_generate constraint_cli_chat constraint_cli_think_budget
                     PROPERTIES FIXTURES_REQUIRED jc_models TIMEOUT 120)
add_test(NAME constraint_cli_bad_schema
         COMMAND ${CMAKE_COMMAND} -DQUARRY=$<TARGET_FILE:quarry> -DMODE=badschema "-DEXPECT=minItems 3 > maxItems 2"
                 "-DARGS=--model;${JC_MODEL_A};--prompt;x;--schema;${JC_TEST_DIR}/bad_schema.json;--json"
                 -P ${JC_TEST_DIR}/cli_check.cmake)
set_tests_properties(constraint_cli_bad_schema PROPERTIES FIXTURES_REQUIRED jc_models)

# benchmark (not a test): tests/bench/constraint_bench.sh builds on this
add_executable(quarry-constraint-bench ${QUARRY_TESTS_DIR}/bench/constraint_bench.c)
target_link_libraries(quarry-constraint-bench PRIVATE qpipeline PkgConfig::JANSSON)
set_target_properties(quarry-constraint-bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
