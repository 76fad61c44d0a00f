# JSON Schema validator (pipeline/jsonschema*): the official
# JSON-Schema-Test-Suite draft 2020-12 files, our own suite-format files for
# the keywords the official set here lacks, and the C API test. All of them
# also run in the sanitizer tree (-DQUARRY_SANITIZE=ON).

# (a) the official suite. It lives outside the repository, in shared/ beside
# the clone; where that folder is absent the test reports itself skipped.
set(QUARRY_JS_SUITE_DIR ${CMAKE_SOURCE_DIR}/../shared/jsonschema-suite/draft2020-12)
if(IS_DIRECTORY ${QUARRY_JS_SUITE_DIR})
  file(GLOB QUARRY_JS_SUITE_FILES ${QUARRY_JS_SUITE_DIR}/*.json)
  list(SORT QUARRY_JS_SUITE_FILES)
  add_test(NAME jsonschema_suite_official
           COMMAND $<TARGET_FILE:quarry> jsonschema-suite ${QUARRY_JS_SUITE_FILES})
else()
  add_test(NAME jsonschema_suite_official
           COMMAND ${CMAKE_COMMAND} -E echo
                   "SKIPPED: no JSON-Schema-Test-Suite at ${QUARRY_JS_SUITE_DIR}")
  set_tests_properties(jsonschema_suite_official PROPERTIES SKIP_REGULAR_EXPRESSION "SKIPPED")
endif()

# (b) our own files, same format
file(GLOB QUARRY_JS_OWN_FILES CONFIGURE_DEPENDS ${QUARRY_TESTS_DIR}/jsonschema/*.json)
list(SORT QUARRY_JS_OWN_FILES)
add_test(NAME jsonschema_suite_own
         COMMAND $<TARGET_FILE:quarry> jsonschema-suite ${QUARRY_JS_OWN_FILES})

# (c) the C API: messages, pointers, compile errors, threads, speed
add_executable(test_jsonschema ${QUARRY_TESTS_DIR}/test_jsonschema.c)
target_link_libraries(test_jsonschema PRIVATE qpipeline PkgConfig::JANSSON Threads::Threads)
add_test(NAME jsonschema_api COMMAND test_jsonschema)
