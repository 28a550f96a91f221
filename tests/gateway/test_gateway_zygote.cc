// Warm Python through the HTTP API: the main() dialect of seeds 001 and 004 and the result-variable dialect of
// seed 002 answer the same from a daemon whose zygote runs them warm as from one that runs them cold, field by
// field but the timings, an exception in main() included.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <set>

#include "tests/support/gateway.h"
#include "tests/support/harness.h"
#include "tests/support/http_client.h"

using namespace jaild::test;
namespace json = boost::json;

TEST_CASE("warm start: main() and result-variable answers are the same warm as cold", "[gateway][zygote]") {
    Stack warm("[zygote]\nenabled = true\n");
    Stack cold("[zygote]\nenabled = false\n");
    REQUIRE(wait_zygote_ready(warm.daemon.socket()));
    struct Request {
        const char* path;
        std::string body;
        bool in_zygote;  // a Python run of /execute: the warm daemon must have run it in its zygote
    };
    const std::vector<Request> requests = {
        {"/execute", R"J({"script": "def main():\n    print(\"Hi!\")\n    return {\"done\": True}"})J", true},
        {"/execute",
         R"J({"script": "import numpy as np\n\ndef main():\n    arr = np.array([1,2,3,4,5])\n    )J"
         R"J(return {\"mean\": float(np.mean(arr)), \"sum\": int(np.sum(arr)), \"std\": float(np.std(arr))}"})J",
         true},
        {"/execute",
         R"J({"script": "import sys\ndef main():\n    print('before', file=sys.stderr)\n    raise ValueError('boom')"})J",
         true},
        {"/execute", R"J({"script": "x = 1\nprint(x)"})J", false},  // refused before any run: no main()
        {"/execute", R"J({"script": "def main():\n    return {1, 2}"})J", true},
        {"/execute",
         R"J({"language": "python", "code": "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)"})J",
         true},
        {"/run", R"J({"user_id": "anonymous", "code": "result = x + y", "data": {"x": 1, "y": 2}})J", false},
        {"/run",
         R"J({"user_id": "anonymous", "code": "result = {'sum': x + y, 'names': sorted(dir())}", "data": {"x": 1, "y": 2}})J",
         false},
    };
    const std::set<std::string> timings = {"wall_ms", "cpu_ms", "memory_kb"};
    for (const Request& request : requests) {
        const std::uint64_t warm_runs = stats(warm.daemon.socket()).zygote_runs();
        const HttpResponse w = post_json(warm.port(), request.path, request.body);
        const HttpResponse c = post_json(cold.port(), request.path, request.body);
        INFO(request.path << " " << request.body << "\nwarm: " << w.status << " " << w.body << "\ncold: " << c.status
                          << " " << c.body);
        if (request.in_zygote) CHECK(stats(warm.daemon.socket()).zygote_runs() == warm_runs + 1);
        CHECK(w.status == c.status);
        json::error_code ec_w, ec_c;
        const json::value wv = json::parse(w.body, ec_w), cv = json::parse(c.body, ec_c);
        REQUIRE(!ec_w);
        REQUIRE(!ec_c);
        REQUIRE(wv.is_object());
        REQUIRE(cv.is_object());
        std::set<std::string> keys;
        for (const auto& item : wv.as_object()) keys.insert(item.key());
        for (const auto& item : cv.as_object()) keys.insert(item.key());
        for (const std::string& key : keys) {
            if (timings.count(key)) continue;
            const json::value* a = wv.as_object().if_contains(key);
            const json::value* b = cv.as_object().if_contains(key);
            INFO("field " << key);
            CHECK((a ? json::serialize(*a) : "<missing>") == (b ? json::serialize(*b) : "<missing>"));
        }
    }
}
