# The `server` component and the Debian packages (`make package`: CPack).
#   mcp-audit      the command, a systemd unit (own user, nothing writable but
#                  /var/lib/mcp-audit), /etc/mcp-audit/config.toml, the man page
#                  and bash completion, all made from the command itself
#   mcp-audit-dev  the library, its headers and CMake files
find_program(HELP2MAN help2man REQUIRED)
set(generated ${CMAKE_CURRENT_BINARY_DIR}/generated)
add_custom_command(OUTPUT ${generated}/mcp-audit.1.gz
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/scripts/make-manpage.sh $<TARGET_FILE:mcp-audit> ${generated}/mcp-audit.1.gz
  DEPENDS mcp-audit scripts/make-manpage.sh
  COMMENT "man page from the commands' help")
add_custom_command(OUTPUT ${generated}/mcp-audit.bash-completion
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/scripts/make-completion.sh $<TARGET_FILE:mcp-audit> ${generated}/mcp-audit.bash-completion
  DEPENDS mcp-audit scripts/make-completion.sh
  COMMENT "bash completion from the commands' help")
# The service's configuration: the example with every default, its journal under /var/lib.
add_custom_command(OUTPUT ${generated}/config.toml
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/scripts/make-packaged-config.sh $<TARGET_FILE:mcp-audit> ${generated}/config.toml
  DEPENDS mcp-audit scripts/make-packaged-config.sh
  COMMENT "the packaged configuration")
add_custom_target(server_files ALL
  DEPENDS ${generated}/mcp-audit.1.gz ${generated}/mcp-audit.bash-completion ${generated}/config.toml)

install(TARGETS mcp-audit RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT server)
install(FILES ${generated}/mcp-audit.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT server)
install(FILES ${generated}/mcp-audit.bash-completion DESTINATION share/bash-completion/completions
  RENAME mcp-audit COMPONENT server)
install(FILES packaging/mcp-audit.service DESTINATION lib/systemd/system COMPONENT server)
install(FILES README.md DESTINATION share/doc/mcp-audit COMPONENT server)
# /etc whatever the prefix: only the package installs this component there.
install(FILES ${generated}/config.toml DESTINATION /etc/mcp-audit COMPONENT server
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mcp-audit)
set(CPACK_PACKAGE_VENDOR mcp-audit)
set(CPACK_PACKAGE_CONTACT "mcp-audit maintainers <maintainers@mcp-audit.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "compliance-grade audit logging for MCP servers")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL server dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_SERVER_PACKAGE_NAME mcp-audit)
set(CPACK_DEBIAN_SERVER_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_SERVER_DESCRIPTION
  "An audited MCP server (Streamable HTTP and stdio), a proxy that audits\nany MCP server, and the tools an auditor needs: query, export, verify,\nerase, retention, reports. Records are hash-chained and signed, and\nshipped to SQLite, PostgreSQL, MySQL, SIEMs and syslog.")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA
  ${CMAKE_CURRENT_SOURCE_DIR}/packaging/postinst
  ${CMAKE_CURRENT_SOURCE_DIR}/packaging/prerm
  ${CMAKE_CURRENT_SOURCE_DIR}/packaging/postrm
  ${CMAKE_CURRENT_SOURCE_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_DEV_PACKAGE_NAME mcp-audit-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "nlohmann-json3-dev, libssl-dev, libsqlite3-dev, libspdlog-dev, libboost-dev, libcurl4-openssl-dev, libpq-dev, libmariadb-dev, zlib1g-dev, libsimdjson-dev, pkg-config")
set(CPACK_DEBIAN_DEV_DESCRIPTION
  "The static library, headers and CMake package of mcp-audit, to build\naudited MCP servers in C++ with find_package(mcpaudit).")
include(CPack)
