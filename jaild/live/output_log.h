// What a live process wrote, kept for clients that attach later: its stdout and stderr as one sequence of
// chunks in the order they came, each stream bounded on its own (its oldest chunks go first). A reader keeps
// its place as a Cursor and learns, stream by stream, how many bytes it missed when the log dropped them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace jaild::live {

enum class Stream : std::uint8_t { stdout_ = 0, stderr_ = 1 };

class OutputLog {
public:
    struct Cursor {
        std::uint64_t seq = 0;                // the next chunk to read
        std::array<std::uint64_t, 2> seen{};  // bytes of each stream read or known dropped
    };
    struct Piece {
        Stream stream;
        std::uint64_t dropped = 0;  // bytes of this stream lost just before data
        std::string data;
    };

    // Each chunk also costs chunk_overhead bytes of the bound, so that a program writing a byte at a time
    // cannot make the log hold a million tiny chunks.
    static constexpr std::size_t chunk_overhead = 64;

    explicit OutputLog(std::size_t bytes_per_stream) : cap_(bytes_per_stream) {}

    void append(Stream stream, std::string_view data);
    // Everything after `cursor`, which moves to the end. Dropped bytes come as pieces (possibly with empty
    // data) before the next chunk of their stream.
    // `until`: only chunks appended before the log's end() had that seq (what came before an event).
    std::vector<Piece> read(Cursor& cursor, std::uint64_t until = UINT64_MAX) const;
    // A cursor at the start (everything kept) or at the end (only what comes next).
    Cursor start() const { return {}; }
    Cursor end() const { return {next_seq_, totals_}; }
    std::uint64_t total(Stream stream) const { return totals_[index(stream)]; }

private:
    struct Chunk {
        std::uint64_t seq;
        Stream stream;
        std::array<std::uint64_t, 2> before;  // bytes of each stream appended before this chunk
        std::string data;
    };
    static std::size_t index(Stream s) { return static_cast<std::size_t>(s); }

    std::size_t cap_;
    std::array<std::deque<Chunk>, 2> chunks_;  // per stream, oldest first
    std::array<std::uint64_t, 2> kept_{};
    std::array<std::uint64_t, 2> totals_{};
    std::uint64_t next_seq_ = 0;
};

}  // namespace jaild::live
