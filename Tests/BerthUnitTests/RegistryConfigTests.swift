@testable import BerthRegistry
import Foundation
import Testing

/// Registry endpoints, challenges and the CLI's credential header.
@Suite struct RegistryConfigTests {
    @Test func endpointsAndInsecureRegistries() {
        let c = RegistryConfig(mirrors: ["https://mirror.example/"], insecure: ["10.1.0.0/16", "reg.internal:5000"])
        #expect(c.endpoints(for: "docker.io").map(\.base) == ["https://mirror.example", "https://registry-1.docker.io"])
        #expect(c.endpoints(for: "docker.io", forPush: true).map(\.base) == ["https://registry-1.docker.io"])
        #expect(c.endpoints(for: "127.0.0.1:5000").map(\.base) == ["https://127.0.0.1:5000", "http://127.0.0.1:5000"])
        #expect(c.endpoints(for: "localhost:5000").count == 2)
        #expect(c.endpoints(for: "10.1.200.3:443").last?.base == "http://10.1.200.3:443")
        #expect(c.endpoints(for: "10.2.0.1").map(\.base) == ["https://10.2.0.1"])
        #expect(c.endpoints(for: "reg.internal:5000").count == 2)
        #expect(c.endpoints(for: "quay.io").map(\.base) == ["https://quay.io"])
        #expect(c.endpoints(for: "quay.io").first?.skipVerify == false)
    }

    @Test func challenges() {
        let b = AuthChallenge(header: #"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#)
        #expect(b?.scheme == "bearer")
        #expect(b?.parameters["realm"] == "https://auth.example/token")
        #expect(b?.parameters["service"] == "registry.example")
        #expect(b?.parameters["scope"] == "repository:a/b:pull,push")
        let basic = AuthChallenge(header: #"Basic realm="berth test""#)
        #expect(basic?.scheme == "basic" && basic?.parameters["realm"] == "berth test")
        #expect(AuthChallenge(header: "") == nil)
    }

    @Test func registryAuthHeader() throws {
        let json = #"{"username":"u","password":"p?>","serveraddress":"127.0.0.1:5000"}"#
        let std = Data(json.utf8).base64EncodedString()
        let url = std.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        for header in [std, url] {
            let a = try #require(AuthConfig.fromHeader(header))
            #expect(a.username == "u" && a.password == "p?>")
        }
        #expect(AuthConfig.fromHeader(Data("{}".utf8).base64EncodedString()) == nil)
        #expect(AuthConfig.fromHeader("not base64 !") == nil)
        let legacy = Data(#"{"auth":"\#(Data("x:y".utf8).base64EncodedString())"}"#.utf8).base64EncodedString()
        #expect(AuthConfig.fromHeader(legacy)?.username == "x")
    }

    /// A bearer token is fetched again with half its life or 30 s left; basic credentials never.
    @Test func bearerTokensAreRenewedBeforeTheyRunOut() throws {
        let ep = RegistryConfig().endpoints(for: "127.0.0.1:5000")[0]
        let bearer = try #require(AuthChallenge(header: #"Bearer realm="http://127.0.0.1:1/token",service="reg""#))
        let basic = try #require(AuthChallenge(header: #"Basic realm="reg""#))
        let t0 = ContinuousClock.now
        var s = RegistryClient.Session(endpoint: ep, authorization: nil)
        #expect(!s.needsRenewal(at: t0 + .seconds(3600)))
        s.authorized(.init(header: "Bearer a", lifetime: .seconds(60)), by: bearer, at: t0)
        #expect(s.authorization == "Bearer a")
        #expect(!s.needsRenewal(at: t0 + .seconds(29)))
        #expect(s.needsRenewal(at: t0 + .seconds(30)))
        s.authorized(.init(header: "Bearer b", lifetime: .seconds(300)), by: bearer, at: t0)
        #expect(!s.needsRenewal(at: t0 + .seconds(269)))
        #expect(s.needsRenewal(at: t0 + .seconds(270)))
        s.authorized(.init(header: "Bearer c", lifetime: .seconds(4)), by: bearer, at: t0)
        #expect(s.needsRenewal(at: t0 + .seconds(2)))
        s.authorized(.init(header: "Basic eDp5"), by: basic, at: t0)
        #expect(!s.needsRenewal(at: t0 + .seconds(3600)))
    }
}
