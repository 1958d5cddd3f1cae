# Writes a C++ source that embeds a service's migration files (cmake -P script).
# Inputs: SERVICE, OUT, FILES (a |-separated list of .sql paths).
string(REPLACE "|" ";" FILES "${FILES}")
set(body "")
foreach(f IN LISTS FILES)
  get_filename_component(name "${f}" NAME)
  file(READ "${f}" content)
  if(content MATCHES "\\)aw_sql\"")
    message(FATAL_ERROR "${f} contains the raw-string delimiter )aw_sql\"")
  endif()
  string(APPEND body "      {\"${name}\", R\"aw_sql(${content})aw_sql\"},\n")
endforeach()
file(WRITE "${OUT}.tmp"
  "// Generated at build time from services/${SERVICE}/sql; do not edit.\n"
  "#include \"common/migrations.h\"\n\n"
  "namespace aw::${SERVICE} {\n\n"
  "std::vector<aw::db::EmbeddedFile> MigrationFiles() {\n"
  "  return {\n${body}  };\n}\n\n"
  "}  // namespace aw::${SERVICE}\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
