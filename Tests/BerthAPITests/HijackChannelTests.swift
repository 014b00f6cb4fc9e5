import BerthModels
import Foundation
import Testing

/// The hijack on the real HTTP handlers over an in-memory channel: the 101 head, stdcopy frames,
/// bytes the client sent right behind the request, and the client's half-close ending stdin.
@Suite struct HijackChannelTests {
    func catContainer(_ h: APIHarness, tty: Bool = false) async throws -> String {
        try await h.loadImage(try FakeImage.archive())
        var body = CreateBody("fake:latest", ["cat"])
        body.OpenStdin = true
        body.StdinOnce = true
        body.AttachStdin = true
        body.Tty = tty
        let id = try await h.create(body)
        try await h.start(id)
        return id
    }

    @Test func upgradeHeadFramesPipelinedBytesAndHalfClose() async throws {
        let h = try await APIHarness()
        defer { h.cleanup() }
        let id = try await catContainer(h)
        let c = try await h.connect()
        // The request and the first stdin bytes arrive in one read: they must reach the container.
        try await c.send("POST", "/v1.47/containers/\(id)/attach?stream=1&stdin=1&stdout=1&stderr=1",
                         headers: ["Connection": "Upgrade", "Upgrade": "tcp"], extra: Array("ping\n".utf8))
        let head = try await c.readHead()
        #expect(head.status == 101)
        let headers = Dictionary(head.headers.map { ($0.0.lowercased(), $0.1) }, uniquingKeysWith: { a, _ in a })
        #expect(headers["connection"] == "Upgrade")
        #expect(headers["upgrade"] == "tcp")
        #expect(headers["content-type"] == "application/vnd.docker.multiplexed-stream")
        #expect(headers["api-version"] == "1.47")

        try await c.sendRaw(Array("pong\n".utf8))
        var got: [UInt8] = []
        while StdFrames.split(got).map(\.text).joined() != "ping\npong\n" {
            guard let more = try await c.nextBytes() else { break }
            got += more
        }
        #expect(StdFrames.split(got).allSatisfy { $0.stream == 1 })
        #expect(StdFrames.split(got).map(\.text).joined() == "ping\npong\n")

        // Half-close: stdin ends, cat exits, the server closes the stream.
        try await c.halfClose()
        _ = try await c.readToClose()
        #expect(try await h.wait(id) == 0)
    }

    /// Without `Upgrade: tcp` the head is a 200 and the stream follows it; a TTY's stream is raw.
    @Test func plainHijackOfATTYIsRaw() async throws {
        let h = try await APIHarness()
        defer { h.cleanup() }
        let id = try await catContainer(h, tty: true)
        let c = try await h.connect()
        // Without the upgrade the bytes after the request would be read as HTTP: stdin follows the head.
        try await c.send("POST", "/v1.47/containers/\(id)/attach?stream=1&stdin=1&stdout=1")
        let head = try await c.readHead()
        try await c.sendRaw(Array("abc\n".utf8))
        #expect(head.status == 200)
        #expect(head.headers.contains { $0.0.lowercased() == "content-type" && $0.1 == "application/vnd.docker.raw-stream" })
        var got: [UInt8] = []
        while got.count < 4, let more = try await c.nextBytes() { got += more }
        #expect(got == Array("abc\n".utf8))
        try await c.halfClose()
        _ = try await c.readToClose()
        #expect(try await h.wait(id) == 0)
    }

    /// Requests pipelined behind one another on a kept-alive connection are answered in order.
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let h = try await APIHarness()
        defer { h.cleanup() }
        let c = try await h.connect()
        let two = "GET /_ping HTTP/1.1\r\nHost: localhost\r\n\r\nGET /v1.47/version HTTP/1.1\r\nHost: localhost\r\n\r\n"
        try await c.sendRaw(Array(two.utf8))
        let first = try await c.readResponse()
        let second = try await c.readResponse()
        #expect(first.status == 200 && first.text == "OK")
        #expect(second.status == 200 && second.text.contains("\"ApiVersion\":\"1.47\""))
    }
}
