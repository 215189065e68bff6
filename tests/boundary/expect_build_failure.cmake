# cmake -DBUILD_DIR=... -DTARGET=... -DEXPECT=header -P expect_build_failure.cmake
# Passes only when building TARGET fails because EXPECT cannot be found (not for any other reason).
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(APPEND out "${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} built, but it includes another module's private header ${EXPECT}")
endif()
string(FIND "${out}" "${EXPECT}: No such file or directory" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${TARGET} failed to build, but not on ${EXPECT}:\n${out}")
endif()
message(STATUS "${TARGET} fails to build as it should: ${EXPECT} is private to its module")
