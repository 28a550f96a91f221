#include "jaild/live/output_log.h"

#include <algorithm>

namespace jaild::live {

void OutputLog::append(Stream stream, std::string_view data) {
    if (data.empty()) return;
    const std::size_t s = index(stream);
    // A chunk larger than the whole buffer keeps only its tail; its head counts as dropped.
    const std::size_t room = cap_ > chunk_overhead ? cap_ - chunk_overhead : 1;
    if (data.size() > room) {
        totals_[s] += data.size() - room;
        data = data.substr(data.size() - room);
    }
    Chunk chunk{next_seq_++, stream, totals_, std::string(data)};
    totals_[s] += data.size();
    kept_[s] += data.size() + chunk_overhead;
    chunks_[s].push_back(std::move(chunk));
    while (kept_[s] > cap_ && chunks_[s].size() > 1) {
        kept_[s] -= chunks_[s].front().data.size() + chunk_overhead;
        chunks_[s].pop_front();
    }
}

std::vector<OutputLog::Piece> OutputLog::read(Cursor& cursor, std::uint64_t until) const {
    std::vector<Piece> out;
    const auto first = [&](const std::deque<Chunk>& chunks) {
        return std::lower_bound(chunks.begin(), chunks.end(), cursor.seq,
                                [](const Chunk& c, std::uint64_t seq) { return c.seq < seq; });
    };
    auto a = first(chunks_[0]), b = first(chunks_[1]);
    // Both streams' chunks in the order they came (by seq).
    const auto a_end =
        std::lower_bound(a, chunks_[0].end(), until, [](const Chunk& c, std::uint64_t seq) { return c.seq < seq; });
    const auto b_end =
        std::lower_bound(b, chunks_[1].end(), until, [](const Chunk& c, std::uint64_t seq) { return c.seq < seq; });
    while (a != a_end || b != b_end) {
        const bool take_a = b == b_end || (a != a_end && a->seq < b->seq);
        const Chunk& chunk = take_a ? *a++ : *b++;
        const std::size_t s = index(chunk.stream);
        out.push_back({chunk.stream, chunk.before[s] - std::min(chunk.before[s], cursor.seen[s]), chunk.data});
        cursor.seen[s] = chunk.before[s] + chunk.data.size();
    }
    if (until != UINT64_MAX) {
        cursor.seq = std::min(until, next_seq_);
        return out;
    }
    // Bytes dropped after the last chunk read of a stream, with no later chunk of it kept.
    for (std::size_t s = 0; s < 2; ++s) {
        if (cursor.seen[s] >= totals_[s]) continue;
        out.push_back({static_cast<Stream>(s), totals_[s] - cursor.seen[s], {}});
        cursor.seen[s] = totals_[s];
    }
    cursor.seq = next_seq_;
    return out;
}

}  // namespace jaild::live
