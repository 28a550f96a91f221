// Logging set-up for every binary: spdlog to stderr (journald captures it), plain text or JSON lines.
#pragma once

#include "common/config.h"

namespace jaild {

// Installs the default spdlog logger named `program`. Runs once in main(), before any thread starts.
// Throws ConfigError on an unknown level name.
void init_logging(std::string_view program, const LogConfig& config);

// Escapes text for inclusion in a JSON string (no surrounding quotes). Used by the JSON formatter.
std::string json_escape(std::string_view text);

}  // namespace jaild
