// JSON parsing that reads every number exactly. Boost.JSON 1.81 converts a decimal to the nearest double
// only approximately (a long mantissa or a large exponent can land a few ulps away; its precise mode came in
// 1.83), and the gateway hands numbers on: `data` to the sandboxed program, results back to the client. This
// parser is Boost.JSON's own (same grammar, limits and errors) with the double of each number taken from its
// text by std::from_chars, which rounds correctly.
#pragma once

#include <boost/json/value.hpp>
#include <string_view>

namespace jaild::gateway {

// Like boost::json::parse(text, ec) with default options, numbers exact.
boost::json::value parse_json(std::string_view text, boost::system::error_code& ec);

}  // namespace jaild::gateway
