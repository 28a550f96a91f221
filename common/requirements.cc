#include "common/requirements.h"

#include <algorithm>
#include <optional>

namespace jaild::requirements {

namespace {

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && (is_blank(s.back()) || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

// A comment starts at '#' at the start of the line or after a blank (pip's rule).
std::string_view strip_comment(std::string_view line) {
    for (std::size_t i = 0; i < line.size(); ++i)
        if (line[i] == '#' && (i == 0 || is_blank(line[i - 1]))) return line.substr(0, i);
    return line;
}

// Why an option line is refused, by the option's name.
std::string option_reason(std::string_view line) {
    const std::string_view option = line.substr(0, std::min(line.find_first_of(" \t="), line.size()));
    if (option == "-e" || option == "--editable") return "editable installs (-e) are not accepted";
    if (option == "-r" || option == "--requirement" || option == "-c" || option == "--constraint")
        return "other requirement files (" + std::string(option) + ") are not accepted";
    if (option == "-i" || option == "--index-url" || option == "--extra-index-url" || option == "-f" ||
        option == "--find-links" || option == "--no-index" || option == "--trusted-host")
        return "package indexes and links (" + std::string(option) +
               ") are not accepted: packages come only from the operator's wheelhouse";
    return "options (" + std::string(option) + ") are not accepted";
}

// What makes a line something other than a plain requirement; empty when nothing does.
std::string refusal(std::string_view line) {
    for (char c : line)
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return "contains a control character";
    if (line.back() == '\\') return "line continuations are not accepted";
    if (line.front() == '-') return option_reason(line);
    if (line.find("://") != std::string_view::npos)
        return "URLs are not accepted: packages come only from the operator's wheelhouse";
    if (line.find('@') != std::string_view::npos)
        return "direct references (name @ url) are not accepted: packages come only from the operator's wheelhouse";
    if (line.front() == '.' || line.front() == '~' || line.find_first_of("/\\") != std::string_view::npos ||
        line.ends_with(".whl") || line.ends_with(".zip") || line.ends_with(".tar.gz"))
        return "paths and archives are not accepted: packages come only from the operator's wheelhouse";
    for (std::size_t i = 1; i < line.size(); ++i)
        if (line[i] == '-' && is_blank(line[i - 1])) return option_reason(line.substr(i));
    return {};
}

// Reads a name (PEP 508: letters and digits, with - _ . inside) at `s`, advancing it.
std::optional<std::string_view> read_name(std::string_view& s) {
    std::size_t n = 0;
    while (n < s.size() && (is_alnum(s[n]) || s[n] == '-' || s[n] == '_' || s[n] == '.')) ++n;
    if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1])) return std::nullopt;
    const std::string_view name = s.substr(0, n);
    s = trim(s.substr(n));
    return name;
}

constexpr std::string_view kOperators[] = {"===", "==", "!=", "<=", ">=", "~=", "<", ">"};

bool valid_version(std::string_view version, std::string_view op) {
    if (version.empty()) return false;
    for (char c : version)
        if (!is_alnum(c) && c != '.' && c != '*' && c != '+' && c != '!' && c != '_' && c != '-') return false;
    const std::size_t star = version.find('*');
    if (star == std::string_view::npos) return true;
    // Only a trailing ".*", and only with == and != (PEP 440).
    return star == version.size() - 1 && version.ends_with(".*") && (op == "==" || op == "!=");
}

// ">= 1.0 , <2" (optionally in parentheses) as sorted clauses without blanks; nullopt when malformed.
std::optional<std::string> read_specifiers(std::string_view s) {
    if (s.empty()) return std::string();
    if (s.front() == '(') {
        if (s.back() != ')') return std::nullopt;
        s = trim(s.substr(1, s.size() - 2));
    }
    std::vector<std::string> clauses;
    while (true) {
        const std::size_t comma = std::min(s.find(','), s.size());
        std::string_view clause = trim(s.substr(0, comma));
        std::string_view op;
        for (std::string_view candidate : kOperators) {
            if (clause.starts_with(candidate)) {
                op = candidate;
                break;
            }
        }
        if (op.empty()) return std::nullopt;
        const std::string_view version = trim(clause.substr(op.size()));
        if (!valid_version(version, op)) return std::nullopt;
        clauses.push_back(std::string(op) + std::string(version));
        if (comma == s.size()) break;
        s = s.substr(comma + 1);
    }
    std::sort(clauses.begin(), clauses.end());
    std::string out;
    for (const std::string& clause : clauses) out += (out.empty() ? "" : ",") + clause;
    return out;
}

bool valid_marker(std::string_view marker) {
    if (marker.empty()) return false;
    return std::all_of(marker.begin(), marker.end(), [](char c) {
        return is_alnum(c) || std::string_view(" \t_.'\"<>=!~()*+,-").find(c) != std::string_view::npos;
    });
}

std::optional<Requirement> read_requirement(std::string_view line) {
    Requirement out;
    const std::size_t semicolon = line.find(';');
    std::string_view rest = trim(line.substr(0, semicolon));
    if (semicolon != std::string_view::npos) {
        out.marker = std::string(trim(line.substr(semicolon + 1)));
        if (!valid_marker(out.marker)) return std::nullopt;
    }
    const auto name = read_name(rest);
    if (!name) return std::nullopt;
    out.name = normalize_name(*name);
    if (!rest.empty() && rest.front() == '[') {
        const std::size_t close = rest.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        std::string_view extras = trim(rest.substr(1, close - 1));
        rest = trim(rest.substr(close + 1));
        while (!extras.empty()) {
            const auto extra = read_name(extras);
            if (!extra) return std::nullopt;
            out.extras.push_back(normalize_name(*extra));
            if (extras.empty()) break;
            if (extras.front() != ',') return std::nullopt;
            extras = trim(extras.substr(1));
        }
        std::sort(out.extras.begin(), out.extras.end());
    }
    const auto specifiers = read_specifiers(rest);
    if (!specifiers) return std::nullopt;
    out.specifiers = *specifiers;
    return out;
}

std::string quoted(std::string_view text) {
    constexpr std::size_t kShown = 80;
    return "\"" + std::string(text.substr(0, kShown)) + (text.size() > kShown ? "...\"" : "\"");
}

// A plain release version ("1.24.2") as numbers; nullopt for anything else.
std::optional<std::vector<unsigned long>> release(std::string_view version) {
    std::vector<unsigned long> parts;
    while (true) {
        std::size_t n = 0;
        unsigned long value = 0;
        while (n < version.size() && is_digit(version[n]) && n < 9) value = value * 10 + (version[n++] - '0');
        if (n == 0 || (n < version.size() && version[n] != '.')) return std::nullopt;
        parts.push_back(value);
        if (n == version.size()) return parts;
        version.remove_prefix(n + 1);
    }
}

int compare(std::vector<unsigned long> a, std::vector<unsigned long> b) {
    const std::size_t size = std::max(a.size(), b.size());
    a.resize(size, 0);  // 1.0 == 1.0.0
    b.resize(size, 0);
    return a < b ? -1 : a > b ? 1 : 0;
}

// One clause against a plain release version.
Verdict check_clause(std::string_view clause, const std::vector<unsigned long>& installed) {
    std::string_view op;
    for (std::string_view candidate : kOperators) {
        if (clause.starts_with(candidate)) {
            op = candidate;
            break;
        }
    }
    std::string_view version = clause.substr(op.size());
    if (op == "===") return Verdict::unknown;
    const bool prefix = version.ends_with(".*");
    if (prefix) version.remove_suffix(2);
    const auto wanted = release(version);
    if (!wanted) return Verdict::unknown;
    const auto verdict = [](bool ok) { return ok ? Verdict::satisfied : Verdict::not_satisfied; };
    if (prefix) {
        std::vector<unsigned long> head = installed;
        head.resize(wanted->size(), 0);
        const bool match = head == *wanted;
        return verdict(op == "==" ? match : !match);
    }
    const int order = compare(installed, *wanted);
    if (op == "==") return verdict(order == 0);
    if (op == "!=") return verdict(order != 0);
    if (op == "<") return verdict(order < 0);
    if (op == "<=") return verdict(order <= 0);
    if (op == ">") return verdict(order > 0);
    if (op == ">=") return verdict(order >= 0);
    // ~=: at least the version, and the same release but for its last part.
    if (wanted->size() < 2) return Verdict::unknown;
    std::vector<unsigned long> head = installed;
    head.resize(wanted->size() - 1, 0);
    return verdict(order >= 0 && head == std::vector<unsigned long>(wanted->begin(), wanted->end() - 1));
}

}  // namespace

std::string normalize_name(std::string_view name) {
    std::string out;
    for (char c : name) {
        if (c == '-' || c == '_' || c == '.') {
            if (out.empty() || out.back() != '-') out.push_back('-');
        } else {
            out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
        }
    }
    return out;
}

std::string Requirement::canonical() const {
    std::string out = name;
    if (!extras.empty()) {
        out += "[";
        for (std::size_t i = 0; i < extras.size(); ++i) out += (i ? "," : "") + extras[i];
        out += "]";
    }
    out += specifiers;
    if (!marker.empty()) out += ";" + marker;
    return out;
}

std::variant<std::vector<Requirement>, Error> parse(std::string_view text) {
    if (text.size() > kMaxBytes)
        return Error{0, "requirements are " + std::to_string(text.size()) + " bytes, more than the limit of " +
                            std::to_string(kMaxBytes)};
    std::vector<std::string_view> lines;
    for (std::size_t start = 0; start < text.size();) {
        const std::size_t end = std::min(text.find('\n', start), text.size());
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    if (lines.size() > kMaxLines)
        return Error{0, "requirements have " + std::to_string(lines.size()) + " lines, more than the limit of " +
                            std::to_string(kMaxLines)};
    std::vector<Requirement> out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const std::string_view line = trim(strip_comment(lines[i]));
        if (line.empty()) continue;
        const std::string where = "requirements line " + std::to_string(i + 1) + " (" + quoted(line) + "): ";
        if (std::string why = refusal(line); !why.empty()) return Error{i + 1, where + why};
        auto requirement = read_requirement(line);
        if (!requirement)
            return Error{i + 1, where +
                                    "not a requirement (a name, optional [extras], version specifiers such as "
                                    ">=1.0,<2 and an optional ; marker)"};
        requirement->line = i + 1;
        requirement->text = std::string(line);
        out.push_back(std::move(*requirement));
    }
    return out;
}

Verdict check(const Requirement& requirement, const std::map<std::string, std::string>& installed) {
    if (!requirement.marker.empty() || !requirement.extras.empty()) return Verdict::unknown;
    const auto found = installed.find(requirement.name);
    if (found == installed.end()) return Verdict::not_satisfied;
    const auto version = release(found->second);
    if (!version) return Verdict::unknown;
    Verdict verdict = Verdict::satisfied;
    std::string_view rest = requirement.specifiers;
    while (!rest.empty()) {
        const std::size_t comma = std::min(rest.find(','), rest.size());
        const Verdict one = check_clause(rest.substr(0, comma), *version);
        if (one == Verdict::not_satisfied) return one;
        if (one == Verdict::unknown) verdict = Verdict::unknown;
        rest = rest.substr(std::min(comma + 1, rest.size()));
    }
    return verdict;
}

}  // namespace jaild::requirements
