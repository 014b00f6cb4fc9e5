@testable import BerthAPI
import BerthEngine
import BerthSystem
import NIOHTTP1
import Testing

@Suite struct FilterTests {
    @Test func bothWireForms() throws {
        let a = try Filters(json: #"{"name":["web"],"status":["exited","created"]}"#)
        #expect(a["name"] == ["web"])
        #expect(Set(a["status"]) == ["exited", "created"])
        let b = try Filters(json: #"{"label":{"a=b":true}}"#)
        #expect(b["label"] == ["a=b"])
        #expect(try Filters(json: nil).values.isEmpty)
    }

    @Test func invalidInput() throws {
        #expect(throws: BerthError.self) { try Filters(json: "{bad") }
        #expect(throws: BerthError.self) { try Filters(json: #"{"name":"x"}"#) }
        #expect(throws: BerthError.self) { try Filters(json: #"{"nope":["x"]}"#).validate(["name"]) }
    }

    @Test func labels() {
        #expect(Filters.labelsMatch(["a"], ["a": "1"]))
        #expect(Filters.labelsMatch(["a=1"], ["a": "1"]))
        #expect(!Filters.labelsMatch(["a=2"], ["a": "1"]))
        #expect(!Filters.labelsMatch(["b"], ["a": "1"]))
    }

    @Test func humanDurations() {
        #expect(HumanDuration.string(seconds: 0) == "Less than a second")
        #expect(HumanDuration.string(seconds: 5) == "5 seconds")
        #expect(HumanDuration.string(seconds: 90) == "About a minute")
        #expect(HumanDuration.string(seconds: 7200) == "2 hours")
    }

    @Test func signals() throws {
        #expect(try Signals.parse("SIGTERM") == 15)
        #expect(try Signals.parse("kill") == 9)
        #expect(try Signals.parse("10") == 10)
        #expect(try Signals.parse("RTMIN+1") == 35)
        #expect(throws: BerthError.self) { try Signals.parse("SIGNOPE") }
    }

    @Test func timestamps() {
        let t = Timestamp.parseRFC3339("2026-11-29T13:41:18.520332872+00:00")
        #expect(t == 1_795_959_678_520_332_872)
        #expect(Timestamp.rfc3339(nanos: t!) == "2026-11-29T13:41:18.520332872Z")
        #expect(Timestamp.parseDockerTime("1795959678.5") == 1_795_959_678_500_000_000)
        #expect(Timestamp.parseDockerTime("1795959678") == 1_795_959_678_000_000_000)
        #expect(Timestamp.parseRFC3339("17959596") == nil)
        #expect(Timestamp.rfc3339Fixed(nanos: 1_795_959_678_000_000_000) == "2026-11-29T13:41:18.000000000Z")
    }
}

@Suite struct RouterTests {
    func router() -> Router {
        var r = Router()
        r.add(.GET, "/containers/{id}/json") { req in .text(req.param("id")) }
        r.add(.GET, "/images/{name}/json", greedy: true) { req in .text(req.param("name")) }
        r.add(.DELETE, "/images/{name}", greedy: true) { req in .text(req.param("name")) }
        return r
    }

    func call(_ r: Router, _ method: HTTPMethod, _ uri: String) async -> (Int, String) {
        let resp = await r.handle(head: HTTPRequestHead(version: .http1_1, method: method, uri: uri), body: .empty())
        guard case .bytes(let b) = resp.body else { return (Int(resp.status.code), "") }
        return (Int(resp.status.code), String(decoding: b, as: UTF8.self))
    }

    @Test func versionsAndParams() async {
        let r = router()
        #expect(await call(r, .GET, "/containers/abc/json") == (200, "abc"))
        #expect(await call(r, .GET, "/v1.41/containers/abc/json") == (200, "abc"))
        #expect(await call(r, .GET, "/v1.47/images/127.0.0.1:5000/acc/bb:1/json") == (200, "127.0.0.1:5000/acc/bb:1"))
        #expect(await call(r, .DELETE, "/images/acc/bb:v1") == (200, "acc/bb:v1"))
        let old = await call(r, .GET, "/v1.12/containers/x/json")
        #expect(old.0 == 400 && old.1.contains("too old"))
        let new = await call(r, .GET, "/v1.99/containers/x/json")
        #expect(new.0 == 400 && new.1.contains("too new"))
        let missing = await call(r, .GET, "/no/such/route")
        #expect(missing.0 == 404 && missing.1.contains("\"message\""))
        #expect(await call(r, .POST, "/containers/abc/json").0 == 405)
    }

    @Test func queryDecoding() {
        let (_, path, q) = Router.parseTarget("/v1.41/commit?changes=CMD+%5B%22sh%22%5D&changes=ENV+A%3D1&x=")
        #expect(path == "/commit")
        #expect(q["changes"] == ["CMD [\"sh\"]", "ENV A=1"])
        #expect(q["x"] == [""])
    }
}
