// The protocol's side of live sessions, as pure functions: which session, process or context a request names,
// and the answers built from jaild's records of them (live_sandbox.h) and from the interpreter's events.
#pragma once

#include <cstdint>
#include <string>

#include "jaild.pb.h"
#include "jaild/live/live_sandbox.h"

namespace jaild::live {

// What a live request names; "" or 0 when it names none.
std::string session_id_of(const v1::ClientMessage& request);
std::string context_id_of(const v1::ClientMessage& request);
std::uint32_t pid_of(const v1::ClientMessage& request);

void fill_process(const Process& process, v1::ProcessInfo& out);
// How an ended process ended: status OK, RUNTIME_ERROR or TIMEOUT (its own timeout_ms).
v1::ServerMessage exit_message(const Process& process);
v1::ServerMessage context_message(const Context& context);
v1::ServerMessage output_message(OutputLog::Piece piece);

// One event of the interpreter (jaild_kernel.py's JSON) as CellResult, CellError or CellEnd; false for the
// end. Something that is not an object of a known type leaves `out` empty.
bool cell_message(const std::string& event, v1::ServerMessage& out);
// The answer that ends a cell whose interpreter died under it.
v1::ServerMessage interpreter_exited(int exit_code);

}  // namespace jaild::live
