# Builds the dashboard (run with cmake -P by the `dashboard` target, cmake/Dashboard.cmake).
# Inputs: WEB_DIR (web/), OUT_DIR (build/dashboard), STAMP (touched when the dashboard is built).
# A missing tool does not fail the build: without node 18+ and npm, or when npm ci fails, one line says
# why and nothing is built. A bundler error (a bug in web/) fails it.
find_program(_node NAMES node nodejs)
find_program(_npm npm)
set(_how "scripts/install-deps.sh build installs them; allot serve answers GET / with how to build the UI")
if(NOT _node OR NOT _npm)
  message("allot: the dashboard is not built: node and npm were not found (${_how})")
  return()
endif()
execute_process(COMMAND ${_node} -e "process.exit(+process.versions.node.split('.')[0] >= 18 ? 0 : 1)"
                RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
if(NOT _rc EQUAL 0)
  message("allot: the dashboard is not built: it needs Node.js 18 or later (${_how})")
  return()
endif()
# npm writes node_modules/.package-lock.json at each install: older than the lock file means stale.
set(_installed ${WEB_DIR}/node_modules/.package-lock.json)
if(NOT EXISTS ${_installed} OR ${WEB_DIR}/package-lock.json IS_NEWER_THAN ${_installed})
  execute_process(COMMAND ${_npm} ci --no-audit --no-fund --loglevel=error WORKING_DIRECTORY ${WEB_DIR}
                  RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message("allot: the dashboard is not built: `npm ci` in web/ failed (above); allot serve answers GET / with how to build the UI")
    return()
  endif()
endif()
execute_process(COMMAND ${_node} ${WEB_DIR}/build.mjs --outdir ${OUT_DIR} RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "allot: the dashboard's bundler failed (web/build.mjs, above)")
endif()
file(TOUCH ${STAMP})
