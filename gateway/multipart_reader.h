// A multipart/form-data body (RFC 7578, RFC 2046 §5.1) read a piece at a time as it arrives: each part's
// headers once they are complete, then its content in pieces, so a part of any size passes with one piece in
// memory. Pure; unit-tested in tests/unit/test_e2b_files.cc and fuzzed (fuzz_multipart).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jaild::gateway {

// The boundary of a `multipart/form-data; boundary=...` Content-Type; nullopt for another type or no boundary.
std::optional<std::string> multipart_boundary(std::string_view content_type);

struct MultipartPart {
    std::string name;                     // Content-Disposition's name
    std::optional<std::string> filename;  // and filename, when given
};

class MultipartReader {
public:
    struct Event {
        enum class Kind { part, data, part_end };
        Kind kind = Kind::part;
        MultipartPart part;  // for part
        std::string data;    // for data
    };

    explicit MultipartReader(std::string boundary);

    // Appends to `out` what `bytes` completes; the reason when the body is malformed (then, and at every later
    // feed, nothing is read).
    std::optional<std::string> feed(std::string_view bytes, std::vector<Event>& out);
    // The body ended: the reason when it ended before its closing delimiter.
    std::optional<std::string> finish() const;
    bool done() const { return state_ == State::epilogue; }

private:
    enum class State { preamble, after_delimiter, headers, body, epilogue };
    std::optional<std::string> step(std::vector<Event>& out, bool& progressed);
    std::optional<std::string> read_headers(std::vector<Event>& out, bool& progressed);

    std::string dash_boundary_;  // "--" boundary
    std::string delimiter_;      // CRLF "--" boundary
    std::string buffer_;
    State state_ = State::preamble;
    std::optional<std::string> failed_;  // why the body is malformed, once it is
    bool at_start_ = true;               // nothing of the body dropped yet: a boundary there needs no CRLF before it
    static constexpr std::size_t kMaxPadding = 1024;  // transport padding after a boundary (RFC 2046 §5.1.1)
    std::size_t padding_ = 0;                         // of it, read so far
};

}  // namespace jaild::gateway
