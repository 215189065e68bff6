# The web dashboard (web/, docs/http-api.md "Dashboard"): the `dashboard` target, part of every build,
# bundles it into build/dashboard/ (index.html and assets/ with hashed names), which `allot serve` finds
# beside its binary. It runs `npm ci` in web/ when web/node_modules is missing or older than
# package-lock.json, then web/build.mjs (esbuild). Without node and npm it says so in one line and the
# build goes on: the server then answers GET / with a page that says how to build the dashboard.
set(ALLOT_DASHBOARD_BUILD_DIR ${CMAKE_BINARY_DIR}/dashboard)
file(GLOB_RECURSE _web_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/web/src/*)
add_custom_command(
  OUTPUT ${CMAKE_BINARY_DIR}/dashboard.stamp
  COMMAND ${CMAKE_COMMAND} -DWEB_DIR=${CMAKE_SOURCE_DIR}/web -DOUT_DIR=${ALLOT_DASHBOARD_BUILD_DIR}
          -DSTAMP=${CMAKE_BINARY_DIR}/dashboard.stamp -P ${CMAKE_SOURCE_DIR}/cmake/dashboard_build.cmake
  DEPENDS ${_web_sources} ${CMAKE_SOURCE_DIR}/web/package.json ${CMAKE_SOURCE_DIR}/web/package-lock.json
          ${CMAKE_SOURCE_DIR}/web/build.mjs ${CMAKE_SOURCE_DIR}/web/index.html ${CMAKE_SOURCE_DIR}/cmake/dashboard_build.cmake
  COMMENT "Building the dashboard (web/ into dashboard/)" VERBATIM)
add_custom_target(dashboard ALL DEPENDS ${CMAKE_BINARY_DIR}/dashboard.stamp)
