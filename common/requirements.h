// A request's `requirements` (requirements.txt text, seed 000): parsed and validated the same way by the
// gateway (a 400 naming the line) and again by jaild, which trusts no request. Only plain requirements are
// accepted (a name, extras, version specifiers, an environment marker): no option, URL or path, because
// packages come only from the operator's wheelhouse (docs/languages.md). Pure functions, unit-tested.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace jaild::requirements {

inline constexpr std::size_t kMaxBytes = 64 * 1024;
inline constexpr std::size_t kMaxLines = 200;

struct Requirement {
    std::size_t line = 0;             // 1-based line of the text
    std::string text;                 // the line as given, comment and blanks trimmed
    std::string name;                 // normalized (PEP 503): lower case, runs of - _ . as one -
    std::vector<std::string> extras;  // normalized, sorted
    std::string specifiers;           // ">=1.0,<2" without blanks; empty: any version
    std::string marker;               // the environment marker after ';', trimmed; empty: none
    std::string canonical() const;    // name[extras]specifiers;marker: the same for equal requirements
};

struct Error {
    std::size_t line = 0;  // 0: the whole text (size, line count)
    std::string message;   // names the line: "requirements line 3 (\"-e .\"): ..."
};

// Every requirement of the text in line order (blank and comment lines skipped), or the first error.
std::variant<std::vector<Requirement>, Error> parse(std::string_view text);

// Whether an installed version satisfies a requirement's specifiers, when that can be told without pip:
// true/false for plain release versions ("1.24.2") and the operators == != < <= > >= ~= (with ==X.*);
// anything else (pre-releases, local versions, ===, a marker, extras) is "unknown", which pip decides.
enum class Verdict { satisfied, not_satisfied, unknown };
Verdict check(const Requirement& requirement, const std::map<std::string, std::string>& installed);

// PEP 503 normalization of a distribution name.
std::string normalize_name(std::string_view name);

}  // namespace jaild::requirements
