#include "gateway/precise_json.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>
#include <charconv>
#include <string>

namespace jaild::gateway {

namespace json = boost::json;

namespace {

// The handler of Boost's own json::parser, except on_double. A number arrives whole (the parser is given
// the whole text at once) or in parts; the parts are kept until the number ends.
struct ExactNumbers {
    static constexpr std::size_t max_object_size = json::object::max_size();
    static constexpr std::size_t max_array_size = json::array::max_size();
    static constexpr std::size_t max_key_size = json::string::max_size();
    static constexpr std::size_t max_string_size = json::string::max_size();

    json::value_stack stack;
    std::string number;

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }
    bool on_object_begin(json::error_code&) { return true; }
    bool on_object_end(std::size_t n, json::error_code&) {
        stack.push_object(n);
        return true;
    }
    bool on_array_begin(json::error_code&) { return true; }
    bool on_array_end(std::size_t n, json::error_code&) {
        stack.push_array(n);
        return true;
    }
    bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
        stack.push_chars(s);
        return true;
    }
    bool on_key(json::string_view s, std::size_t, json::error_code&) {
        stack.push_key(s);
        return true;
    }
    bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
        stack.push_chars(s);
        return true;
    }
    bool on_string(json::string_view s, std::size_t, json::error_code&) {
        stack.push_string(s);
        return true;
    }
    bool on_number_part(json::string_view s, json::error_code&) {
        number.append(s.data(), s.size());
        return true;
    }
    bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
        number.clear();
        stack.push_int64(i);
        return true;
    }
    bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
        number.clear();
        stack.push_uint64(u);
        return true;
    }
    bool on_double(double approximate, json::string_view s, json::error_code&) {
        number.append(s.data(), s.size());
        double exact = 0;
        const auto [end, err] = std::from_chars(number.data(), number.data() + number.size(), exact);
        // Out of a double's range (1e400, 1e-400): Boost's infinity or zero stands, and callers that care
        // refuse the infinity.
        stack.push_double(err == std::errc() && end == number.data() + number.size() ? exact : approximate);
        number.clear();
        return true;
    }
    bool on_bool(bool b, json::error_code&) {
        stack.push_bool(b);
        return true;
    }
    bool on_null(json::error_code&) {
        stack.push_null();
        return true;
    }
    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }
};

}  // namespace

json::value parse_json(std::string_view text, boost::system::error_code& ec) {
    json::basic_parser<ExactNumbers> parser(json::parse_options{});
    parser.handler().stack.reset();
    const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
    if (ec) return nullptr;
    if (used < text.size()) {  // what json::parse calls extra data after the value
        ec = json::error::extra_data;
        return nullptr;
    }
    return parser.handler().stack.release();
}

}  // namespace jaild::gateway
