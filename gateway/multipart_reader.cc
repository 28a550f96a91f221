#include "gateway/multipart_reader.h"

#include <algorithm>
#include <cctype>

namespace jaild::gateway {

namespace {

constexpr std::size_t kMaxHeaderBytes = 16 * 1024;
constexpr std::size_t kMaxBoundary = 70;  // RFC 2046

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// The `key=value` parameters after a header's first `;`, values unquoted (a quoted-string's \x is x).
std::vector<std::pair<std::string, std::string>> parameters(std::string_view value) {
    std::vector<std::pair<std::string, std::string>> out;
    std::size_t i = value.find(';');
    while (i != std::string_view::npos && i < value.size()) {
        ++i;
        const std::size_t eq = value.find('=', i);
        if (eq == std::string_view::npos) break;
        std::string key(trim(value.substr(i, eq - i)));
        std::size_t j = eq + 1;
        while (j < value.size() && (value[j] == ' ' || value[j] == '\t')) ++j;
        std::string text;
        if (j < value.size() && value[j] == '"') {
            for (++j; j < value.size() && value[j] != '"'; ++j) {
                if (value[j] == '\\' && j + 1 < value.size()) ++j;
                text.push_back(value[j]);
            }
            i = value.find(';', j);
        } else {
            const std::size_t end = std::min(value.find(';', j), value.size());
            text = std::string(trim(value.substr(j, end - j)));
            i = end;
        }
        out.emplace_back(std::move(key), std::move(text));
    }
    return out;
}

}  // namespace

std::optional<std::string> multipart_boundary(std::string_view content_type) {
    const std::string_view type = trim(content_type.substr(0, content_type.find(';')));
    if (!iequals(type, "multipart/form-data")) return std::nullopt;
    for (auto& [key, value] : parameters(content_type))
        if (iequals(key, "boundary") && !value.empty() && value.size() <= kMaxBoundary) return value;
    return std::nullopt;
}

MultipartReader::MultipartReader(std::string boundary)
    : dash_boundary_("--" + boundary), delimiter_("\r\n--" + boundary) {}

std::optional<std::string> MultipartReader::feed(std::string_view bytes, std::vector<Event>& out) {
    if (failed_) return failed_;                         // malformed: nothing more is read
    if (state_ == State::epilogue) return std::nullopt;  // after the closing delimiter: ignored
    buffer_.append(bytes);
    for (bool progressed = true; progressed && state_ != State::epilogue;) {
        progressed = false;
        if ((failed_ = step(out, progressed))) {
            buffer_.clear();
            return failed_;
        }
    }
    return std::nullopt;
}

std::optional<std::string> MultipartReader::finish() const {
    if (failed_) return failed_;
    if (state_ == State::epilogue) return std::nullopt;
    return std::string("the multipart body ended before its closing boundary");
}

std::optional<std::string> MultipartReader::step(std::vector<Event>& out, bool& progressed) {
    switch (state_) {
        case State::preamble: {
            // The first delimiter opens the body (without a CRLF before it only at the body's very first byte),
            // or follows a preamble and its CRLF. What the preamble's trimming leaves at the buffer's start is
            // not the body's start.
            if (at_start_) {
                const std::size_t n = std::min(buffer_.size(), dash_boundary_.size());
                if (buffer_.compare(0, n, dash_boundary_, 0, n) != 0)
                    at_start_ = false;
                else if (n < dash_boundary_.size())
                    return std::nullopt;  // may still be the boundary: wait
            }
            const std::size_t at = at_start_ ? 0 : buffer_.find(delimiter_);
            if (at == std::string::npos) {
                if (buffer_.size() > delimiter_.size()) buffer_.erase(0, buffer_.size() - delimiter_.size());
                return std::nullopt;
            }
            buffer_.erase(0, at + (at_start_ ? dash_boundary_.size() : delimiter_.size()));
            at_start_ = false;
            state_ = State::after_delimiter;
            progressed = true;
            return std::nullopt;
        }
        case State::after_delimiter: {
            // Transport padding (spaces, tabs), then CRLF before a part or "--" after the last one.
            // The padding read so far is dropped as it comes, and is bounded: a body of endless spaces after a
            // boundary neither grows the buffer nor is read again.
            std::size_t skip = 0;
            while (skip < buffer_.size() && (buffer_[skip] == ' ' || buffer_[skip] == '\t')) ++skip;
            padding_ += skip;
            buffer_.erase(0, skip);
            if (padding_ > kMaxPadding)
                return std::string("the multipart body has more than 1 KiB of padding after a boundary");
            skip = 0;
            if (buffer_.size() < 2) return std::nullopt;
            padding_ = 0;
            const std::string_view next(buffer_.data() + skip, 2);
            if (next == "--")
                state_ = State::epilogue;
            else if (next == "\r\n")
                state_ = State::headers;
            else
                return std::string("the multipart body has a boundary followed by neither CRLF nor \"--\"");
            buffer_.erase(0, skip + 2);
            progressed = true;
            return std::nullopt;
        }
        case State::headers: return read_headers(out, progressed);
        case State::body: {
            const std::size_t at = buffer_.find(delimiter_);
            if (at == std::string::npos) {
                // All but what could be the start of a delimiter.
                if (buffer_.size() >= delimiter_.size()) {
                    const std::size_t take = buffer_.size() - (delimiter_.size() - 1);
                    out.push_back({Event::Kind::data, {}, buffer_.substr(0, take)});
                    buffer_.erase(0, take);
                }
                return std::nullopt;
            }
            if (at > 0) out.push_back({Event::Kind::data, {}, buffer_.substr(0, at)});
            out.push_back({Event::Kind::part_end, {}, {}});
            buffer_.erase(0, at + delimiter_.size());
            state_ = State::after_delimiter;
            progressed = true;
            return std::nullopt;
        }
        case State::epilogue: return std::nullopt;
    }
    return std::nullopt;
}

std::optional<std::string> MultipartReader::read_headers(std::vector<Event>& out, bool& progressed) {
    std::size_t end = buffer_.starts_with("\r\n") ? 0 : buffer_.find("\r\n\r\n");
    if (end == std::string::npos) {
        if (buffer_.size() > kMaxHeaderBytes)
            return "a multipart part's headers are longer than " + std::to_string(kMaxHeaderBytes) + " bytes";
        return std::nullopt;
    }
    Event event;
    std::string_view lines(buffer_.data(), end);
    while (!lines.empty()) {
        const std::size_t eol = std::min(lines.find("\r\n"), lines.size());
        const std::string_view line = lines.substr(0, eol);
        lines.remove_prefix(std::min(eol + 2, lines.size()));
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) return std::string("a multipart part has a header line without ':'");
        if (!iequals(trim(line.substr(0, colon)), "Content-Disposition")) continue;
        const std::string_view value = line.substr(colon + 1);
        for (auto& [key, text] : parameters(value)) {
            if (iequals(key, "name")) event.part.name = text;
            if (iequals(key, "filename")) event.part.filename = text;
        }
    }
    buffer_.erase(0, end == 0 ? 2 : end + 4);
    out.push_back(std::move(event));
    state_ = State::body;
    progressed = true;
    return std::nullopt;
}

}  // namespace jaild::gateway
