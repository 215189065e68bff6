# One INTERFACE target that carries the language level, warnings and sanitizers for every allot target.
add_library(allot_options INTERFACE)
target_compile_features(allot_options INTERFACE cxx_std_20)
target_compile_options(allot_options INTERFACE -Wall -Wextra -Wshadow -Wnon-virtual-dtor
  -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough
  # GCC 12 reports false -Wrestrict/-Wstringop-overflow positives inside libstdc++ string code at -O3 (GCC bug 105651).
  $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict -Wno-stringop-overflow>)
if(ALLOT_WERROR)
  target_compile_options(allot_options INTERFACE -Werror)
endif()
if(ALLOT_SANITIZE)
  target_compile_options(allot_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer)
  target_link_options(allot_options INTERFACE -fsanitize=address,undefined)
endif()
# The `fuzz` preset (clang): every library is instrumented for libFuzzer, ASan and UBSan (UBSan aborts,
# so the fuzzer sees each finding); the fuzz/ targets link the fuzzer's main.
if(ALLOT_FUZZ)
  target_compile_options(allot_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined
    -fno-sanitize-recover=all -fno-omit-frame-pointer -g)
  target_link_options(allot_options INTERFACE -fsanitize=address,undefined)
endif()
# The `tsan` preset: ThreadSanitizer (the server's concurrent tests).
if(ALLOT_TSAN)
  target_compile_options(allot_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer -g)
  target_link_options(allot_options INTERFACE -fsanitize=thread)
endif()
target_include_directories(allot_options INTERFACE ${CMAKE_SOURCE_DIR}/include)

# The module boundary. include/allot/ is the contract between modules; a module's src/ headers are
# private to it. Each module NAME gets its own include root, private/NAME, holding one link NAME ->
# src/NAME, so `#include "NAME/x.h"` resolves inside NAME (and in its tests and benchmarks) and
# `#include "OTHER/x.h"` fails to build everywhere else.
# allot_private_access(TARGET MODULE...) lets TARGET include MODULE's src/ headers.
function(allot_private_access target)
  foreach(_m ${ARGN})
    set(_root ${CMAKE_BINARY_DIR}/private/${_m})
    if(NOT EXISTS ${_root}/${_m})
      file(MAKE_DIRECTORY ${_root})
      file(CREATE_LINK ${CMAKE_SOURCE_DIR}/src/${_m} ${_root}/${_m} SYMBOLIC)
    endif()
    target_include_directories(${target} PRIVATE ${_root})
  endforeach()
endfunction()

# allot_module(NAME DEPS...) builds src/NAME/*.cc and src/NAME/*/*.cc (a module's layers) into the static
# library allot_NAME.
function(allot_module name)
  file(GLOB _srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc ${CMAKE_CURRENT_SOURCE_DIR}/*/*.cc)
  add_library(allot_${name} STATIC ${_srcs})
  target_link_libraries(allot_${name} PUBLIC allot_options ${ARGN})
  allot_private_access(allot_${name} ${name})
endfunction()

# allot_test(NAME DEPS...) builds tests/NAME/*.cc into one GoogleTest binary registered with CTest. A
# module's tests see its private headers and those of the allot_ modules among DEPS (white-box tests).
function(allot_test name)
  file(GLOB _srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  if(NOT _srcs)
    return()
  endif()
  add_executable(test_${name} ${_srcs})
  target_link_libraries(test_${name} PRIVATE allot_options allot_test_support ${ARGN} GTest::gtest GTest::gmock GTest::gtest_main)
  set(_private ${name})
  foreach(_dep ${ARGN})
    if(_dep MATCHES "^allot_(.+)$" AND IS_DIRECTORY ${CMAKE_SOURCE_DIR}/src/${CMAKE_MATCH_1})
      list(APPEND _private ${CMAKE_MATCH_1})
    endif()
  endforeach()
  allot_private_access(test_${name} ${_private})
  add_dependencies(test_${name} allot)
  gtest_discover_tests(test_${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
endfunction()
