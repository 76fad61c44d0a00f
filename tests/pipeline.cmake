# Extraction pipeline (pipeline/spec, ground, chunk, prompt, docs, record,
# extract; daemon/cmd_extract): unit tests in C, and end-to-end runs of
# `quarry extract` over the sample corpus with a tiny synthetic model.
set(QUARRY_PIPE_TESTS ${QUARRY_TESTS_DIR}/pipeline)
set(QUARRY_PIPE_TMP ${CMAKE_BINARY_DIR}/pipeline-tmp)
file(MAKE_DIRECTORY ${QUARRY_PIPE_TMP})

foreach(t spec ground chunk docs prompt)
  add_executable(test_pipe_${t} ${QUARRY_PIPE_TESTS}/test_${t}.c)
  target_link_libraries(test_pipe_${t} PRIVATE qpipeline qengine PkgConfig::JANSSON)
endforeach()

add_test(NAME pipeline_spec COMMAND test_pipe_spec ${CMAKE_SOURCE_DIR}/schemas ${QUARRY_PIPE_TMP})
add_test(NAME pipeline_ground COMMAND test_pipe_ground)
add_test(NAME pipeline_chunk COMMAND test_pipe_chunk ${CMAKE_SOURCE_DIR}/schemas)
add_test(NAME pipeline_docs COMMAND test_pipe_docs ${QUARRY_PIPE_TMP}/docs)

# the tiny model the model-dependent tests share
add_test(NAME pipeline_make_model
         COMMAND $<TARGET_FILE:quarry-mkmodel> --out ${QUARRY_TEST_MODELS}/pipe.gguf
                 --layers 2 --embd 64 --heads 4 --kv-heads 2 --head-dim 32 --ffn 96 --scale 0.2 --seed 7)
set_tests_properties(pipeline_make_model PROPERTIES FIXTURES_SETUP pipe_model)

add_test(NAME pipeline_prompt
         COMMAND test_pipe_prompt ${QUARRY_TEST_MODELS}/pipe.gguf ${CMAKE_SOURCE_DIR}/schemas)
set_tests_properties(pipeline_prompt PROPERTIES FIXTURES_REQUIRED pipe_model)

# end to end, in three parts so that each stays well under a minute in the
# sanitizer tree
foreach(part news ladder inputs determinism)
  add_test(NAME pipeline_extract_${part}
           COMMAND bash ${QUARRY_PIPE_TESTS}/extract_e2e.sh $<TARGET_FILE:quarry>
                   $<TARGET_FILE:test_pipe_records> ${QUARRY_TEST_MODELS}/pipe.gguf
                   ${CMAKE_SOURCE_DIR}/schemas ${QUARRY_PIPE_TMP}/e2e-${part} ${part})
  set_tests_properties(pipeline_extract_${part} PROPERTIES FIXTURES_REQUIRED pipe_model TIMEOUT 300)
endforeach()

# checks the JSONL records `quarry extract` writes (used by extract_e2e.sh)
add_executable(test_pipe_records ${QUARRY_PIPE_TESTS}/test_records.c)
target_link_libraries(test_pipe_records PRIVATE qpipeline qengine PkgConfig::JANSSON)
