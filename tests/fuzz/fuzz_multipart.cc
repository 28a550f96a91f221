// The multipart/form-data reader (gateway/multipart_reader.h): an E2B SDK's file upload as it arrives, from
// anyone holding a sandbox's token.
//
// Input: byte 0 chooses how many bytes each feed gives the reader (bits 0-6, plus one) and the mode (bit 7):
// the rest is either a raw body (boundary "b") or parts to encode, separated by 0xff, each "name\0content".
//
// Invariants:
// - the events do not depend on how the body is split: fed whole and fed in pieces, the same parts, the same
//   content, the same verdict;
// - a body encoded from parts (names and contents without the delimiter) reads back as exactly those parts;
// - after an error, further feeds add nothing.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "gateway/multipart_reader.h"

using jaild::gateway::MultipartReader;

namespace {

struct Read {
    std::vector<std::string> parts;  // "name\0filename?\0content"
    std::optional<std::string> error;
};

Read read_all(std::string_view body, std::size_t step) {
    MultipartReader reader("b");
    std::vector<MultipartReader::Event> events;
    Read out;
    for (std::size_t at = 0; at < body.size() && !out.error; at += step)
        out.error = reader.feed(body.substr(at, step), events);
    if (out.error) {  // a malformed body: the reader takes nothing more
        const std::size_t before = events.size();
        FUZZ_CHECK(reader.feed("\r\n--b--\r\n", events).has_value());
        FUZZ_CHECK(events.size() == before);
    } else {
        out.error = reader.finish();
    }
    for (const MultipartReader::Event& event : events) {
        using Kind = MultipartReader::Event::Kind;
        if (event.kind == Kind::part)
            out.parts.push_back(event.part.name + '\0' + event.part.filename.value_or("-") + '\0');
        else if (event.kind == Kind::data)
            out.parts.back() += event.data;
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t step = (data[0] & 0x7f) + 1;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (!(data[0] & 0x80)) {
        const Read whole = read_all(rest, rest.size() + 1);
        const Read pieces = read_all(rest, step);
        FUZZ_CHECK(whole.error.has_value() == pieces.error.has_value());
        if (!whole.error) FUZZ_CHECK(whole.parts == pieces.parts);
        return 0;
    }
    // Parts to encode: names of [a-z] only, contents without "\r\n--b".
    std::vector<std::pair<std::string, std::string>> parts;
    std::size_t start = 0;
    while (start <= rest.size() && parts.size() < 16) {
        std::size_t end = rest.find('\xff', start);
        if (end == std::string_view::npos) end = rest.size();
        const std::string_view part = rest.substr(start, end - start);
        const std::size_t nul = part.find('\0');
        std::string name;
        for (const char c : part.substr(0, nul)) name += static_cast<char>('a' + static_cast<unsigned char>(c) % 26);
        std::string content(nul == std::string_view::npos ? std::string_view() : part.substr(nul + 1));
        if (name.empty()) name = "file";
        if (content.find("\r\n--b") == std::string::npos) parts.emplace_back(name, content);
        start = end + 1;
    }
    std::string body = "preamble\r\n";
    std::vector<std::string> expected;
    for (const auto& [name, content] : parts) {
        body +=
            "--b\r\nContent-Disposition: form-data; name=\"" + name + "\"; filename=\"f\"\r\n\r\n" + content + "\r\n";
        expected.push_back(name + '\0' + "f" + '\0' + content);
    }
    body += "--b--\r\nepilogue";
    const Read got = read_all(body, step);
    FUZZ_CHECK(!got.error);
    FUZZ_CHECK(got.parts == expected);
    return 0;
}
