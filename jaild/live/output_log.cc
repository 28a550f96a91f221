#include "jaild/live/output_log.h"

#include <algorithm>

namespace jaild::live {

void OutputLog::append(Stream stream, std::string_view data) {
    if (data.empty()) return;
    const std::size_t s = index(stream);
    // A chunk larger than the whole buffer keeps only its tail; its head counts as dropped.
    if (data.size() > cap_) {
        totals_[s] += data.size() - cap_;
        data = data.substr(data.size() - cap_);
    }
    Chunk chunk{next_seq_++, stream, totals_, std::string(data)};
    totals_[s] += data.size();
    kept_[s] += data.size();
    chunks_.push_back(std::move(chunk));
    while (kept_[s] > cap_) {
        const auto oldest =
            std::find_if(chunks_.begin(), chunks_.end(), [&](const Chunk& c) { return c.stream == stream; });
        kept_[s] -= oldest->data.size();
        chunks_.erase(oldest);
    }
}

std::vector<OutputLog::Piece> OutputLog::read(Cursor& cursor) const {
    std::vector<Piece> out;
    const auto first = std::lower_bound(chunks_.begin(), chunks_.end(), cursor.seq,
                                        [](const Chunk& c, std::uint64_t seq) { return c.seq < seq; });
    for (auto it = first; it != chunks_.end(); ++it) {
        const std::size_t s = index(it->stream);
        Piece piece{it->stream, it->before[s] - std::min(it->before[s], cursor.seen[s]), it->data};
        cursor.seen[s] = it->before[s] + it->data.size();
        out.push_back(std::move(piece));
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
