# tests/shim/posix.cmake - the POSIX test programs (owned by the tests
# engineer; included from tests/shim/CMakeLists.txt, which the shim engineer owns).
#   posix_srv / posix_cli   plain POSIX server (block | thread | epoll ET) and client
#   shim_posix_kernel       both on the kernel, between the test bed namespaces
#   shim_posix_preload      again with the server under LD_PRELOAD=libxtcp.so:
#                           identical client output, no kernel accept (nstat)
#   shim_posix_client       the client under LD_PRELOAD instead (XTCP_CONNECT_PORTS)
#   shim_posix_localcsum    as preload, the client's kernel with its default checksum
#                           offload (unfinished checksums over veth), no ethtool change
find_package(Threads REQUIRED)
add_executable(posix_srv ${CMAKE_CURRENT_LIST_DIR}/posix_srv.c)
target_link_libraries(posix_srv Threads::Threads)
add_executable(posix_cli ${CMAKE_CURRENT_LIST_DIR}/posix_cli.c)
target_link_libraries(posix_cli Threads::Threads)

add_test(NAME shim_posix_kernel
	COMMAND ${CMAKE_CURRENT_LIST_DIR}/posix_run.sh ${CMAKE_BINARY_DIR} kernel)
set_tests_properties(shim_posix_kernel PROPERTIES LABELS integration
	SKIP_RETURN_CODE 77 TIMEOUT 900 RUN_SERIAL TRUE)

if(TARGET xtcp)
	add_test(NAME shim_posix_preload
		COMMAND ${CMAKE_CURRENT_LIST_DIR}/posix_run.sh ${CMAKE_BINARY_DIR} preload)
	set_tests_properties(shim_posix_preload PROPERTIES LABELS integration
		SKIP_RETURN_CODE 77 TIMEOUT 900 RUN_SERIAL TRUE)
endif()
if(TARGET xtcp)
	# The client under LD_PRELOAD (XTCP_CONNECT_PORTS), the server on the kernel.
	add_test(NAME shim_posix_client
		COMMAND ${CMAKE_CURRENT_LIST_DIR}/posix_run.sh ${CMAKE_BINARY_DIR} client)
	set_tests_properties(shim_posix_client PROPERTIES LABELS integration
		SKIP_RETURN_CODE 77 TIMEOUT 900 RUN_SERIAL TRUE)
endif()
if(TARGET xtcp)
	add_test(NAME shim_posix_localcsum
		COMMAND ${CMAKE_CURRENT_LIST_DIR}/posix_run.sh ${CMAKE_BINARY_DIR} localcsum)
	set_tests_properties(shim_posix_localcsum PROPERTIES LABELS integration
		SKIP_RETURN_CODE 77 TIMEOUT 900 RUN_SERIAL TRUE)
endif()
