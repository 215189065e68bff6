# Writes allot_build_info.h (run with cmake -P at every build, see cmake/Install.cmake). configure_file
# rewrites the header only when a value changed, so an unchanged commit recompiles nothing.
# Inputs: SOURCE_DIR, OUTPUT, ALLOT_VERSION, ALLOT_BUILD_TYPE, ALLOT_COMPILER, the ALLOT_FEATURE_* (0/1) and
# DASHBOARD_INDEX (the build's dashboard/index.html, when it has one).
set(ALLOT_GIT_COMMIT unknown)
set(ALLOT_GIT_DIRTY false)
find_program(_git git)
if(_git AND EXISTS ${SOURCE_DIR}/.git)
  execute_process(COMMAND ${_git} -C ${SOURCE_DIR} rev-parse --short=12 HEAD
                  OUTPUT_VARIABLE _commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _rc)
  if(_rc EQUAL 0 AND _commit)
    set(ALLOT_GIT_COMMIT ${_commit})
    execute_process(COMMAND ${_git} -C ${SOURCE_DIR} status --porcelain --untracked-files=no
                    OUTPUT_VARIABLE _changes ERROR_QUIET)
    if(_changes)
      set(ALLOT_GIT_DIRTY true)
    endif()
  endif()
endif()
# The dashboard is a feature when the build bundled one (DASHBOARD_INDEX exists), or one was given.
if(DASHBOARD_INDEX AND EXISTS ${DASHBOARD_INDEX})
  set(ALLOT_FEATURE_DASHBOARD 1)
endif()
foreach(_f ETCD NVML DASHBOARD)
  if(ALLOT_FEATURE_${_f})
    set(ALLOT_FEATURE_${_f} true)
  else()
    set(ALLOT_FEATURE_${_f} false)
  endif()
endforeach()
configure_file(${SOURCE_DIR}/packaging/build_info.h.in ${OUTPUT} @ONLY)
