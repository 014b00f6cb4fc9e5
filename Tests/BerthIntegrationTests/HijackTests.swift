#if canImport(Glibc)
import Glibc
#endif
import BerthClient
import BerthModels
import BerthSystem
import Foundation
import Testing

/// The hijacked connection on the wire: 101 head, stdcopy frames, half-close ending stdin.
@Suite(.enabled(if: Gate.runtime, Gate.runtimeReason)) struct HijackTests {
    /// A blocking unix-socket client that speaks just enough HTTP.
    final class RawConn {
        let fd: Int32
        init(path: String) throws {
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &addr.sun_path) { p in
                for (i, b) in path.utf8.enumerated() { p[i] = b }
            }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard rc == 0 else { throw BerthError.system("connect: \(Syscall.errnoText())") }
            var tv = timeval(tv_sec: 15, tv_usec: 0)  // a hang fails the test instead of stalling it
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        deinit { close(fd) }
        func send(_ s: String) throws { try Array(s.utf8).withUnsafeBytes { try Syscall.writeAll(fd, $0) } }
        func halfClose() { shutdown(fd, Int32(SHUT_WR)) }
        /// Reads until the head ends; returns the head and whatever came after it.
        func readHead() -> (String, [UInt8]) {
            var buf: [UInt8] = []
            var b = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(fd, &b, b.count)
                if n <= 0 { return (String(decoding: buf, as: UTF8.self), []) }
                buf += b[0..<n]
                if let r = buf.firstRange(of: Array("\r\n\r\n".utf8)) {
                    return (String(decoding: buf[..<r.lowerBound], as: UTF8.self), Array(buf[r.upperBound...]))
                }
            }
        }
        func readToEOF() -> [UInt8] { Syscall.readAll(fd) }
    }

    @Test func attachUpgradeFramingAndHalfClose() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let create = try await d.client.http.request(.POST, "/containers/create?name=it-cat",
                body: Array(#"{"Image":"busybox","Cmd":["sh","-c","cat; echo done >&2"],"OpenStdin":true,"StdinOnce":true,"AttachStdin":true}"#.utf8),
                headers: [("Content-Type", "application/json")])
            #expect(create.status == 201)
            let conn = try RawConn(path: d.socket)
            try conn.send("POST /v1.47/containers/it-cat/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\n"
                          + "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")
            let (head, early) = conn.readHead()
            #expect(head.hasPrefix("HTTP/1.1 101 UPGRADED"))
            #expect(head.contains("Content-Type: application/vnd.docker.multiplexed-stream"))
            #expect(head.contains("Upgrade: tcp"))
            #expect(early.isEmpty)
            try await d.client.startContainer("it-cat")
            try conn.send("hello\n")
            conn.halfClose()  // ends the container's stdin: cat exits
            let (frames, rest) = StdCopy.parse(conn.readToEOF())
            #expect(rest.isEmpty)
            #expect(frames.contains { $0.0 == 1 && $0.1 == Array("hello\n".utf8) })
            #expect(frames.contains { $0.0 == 2 && $0.1 == Array("done\n".utf8) })
            #expect(try await d.client.wait("it-cat").StatusCode == 0)
        }
    }

    /// A connection opened before a container started must still see EOF when its exec ends:
    /// the monitor must not inherit berthd's client sockets.
    @Test func keepAliveConnectionSeesExecEnd() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let conn = try RawConn(path: d.socket)
            try conn.send("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            var b = [UInt8](repeating: 0, count: 4096)
            #expect(read(conn.fd, &b, b.count) > 0)
            _ = try await d.client.createContainer(name: "it-ka", image: "busybox", cmd: ["sleep", "300"])
            try await d.client.startContainer("it-ka")
            let exec = try await d.client.http.request(.POST, "/containers/it-ka/exec",
                body: Array(#"{"Cmd":["true"],"AttachStdout":true,"AttachStderr":true}"#.utf8), headers: [("Content-Type", "application/json")])
            let id = String(decoding: exec.body, as: UTF8.self).split(separator: "\"")[3]
            let body = #"{"Detach":false,"Tty":false}"#
            try conn.send("POST /exec/\(id)/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                          + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
            let start = ContinuousClock.now
            let (head, _) = conn.readHead()
            _ = conn.readToEOF()
            #expect(head.hasPrefix("HTTP/1.1 101"))
            #expect(ContinuousClock.now - start < .seconds(10))
        }
    }

    /// An idle keep-alive connection that the client half-closes is closed by the server.
    @Test func halfClosedIdleConnectionIsClosed() async throws {
        try await withDaemon { d in
            let conn = try RawConn(path: d.socket)
            try conn.send("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            let (head, _) = conn.readHead()
            #expect(head.hasPrefix("HTTP/1.1 200"))
            conn.halfClose()
            let start = ContinuousClock.now
            _ = conn.readToEOF()
            #expect(ContinuousClock.now - start < .seconds(10))
        }
    }

    @Test func oldClientsGetTheRawStreamType() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            _ = try await d.client.createContainer(name: "it-old", image: "busybox", cmd: ["echo", "x"])
            let conn = try RawConn(path: d.socket)
            try conn.send("POST /v1.41/containers/it-old/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
            let (head, _) = conn.readHead()
            #expect(head.contains("Content-Type: application/vnd.docker.raw-stream"))
        }
    }

    /// attach/ws: the upgrade, the container's output in frames, stdin from the client's frames,
    /// and a close answered by a close.
    @Test func websocketAttach() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let created = try await d.client.http.request(.POST, "/containers/create",
                                                          body: Array(#"{"Image":"busybox","Cmd":["cat"],"OpenStdin":true}"#.utf8),
                                                          headers: [("Content-Type", "application/json")])
            let id = try JSONDecoder().decode(ContainerCreateResponse.self, from: Data(created.body)).Id
            let conn = try RawConn(path: d.socket)
            try conn.send("GET /v1.47/containers/\(id)/attach/ws?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: x\r\n"
                          + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          + "Sec-WebSocket-Version: 13\r\n\r\n")
            let (head, _) = conn.readHead()
            #expect(head.hasPrefix("HTTP/1.1 101"), "\(head)")
            #expect(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "\(head)")
            try await d.client.startContainer(id)
            let mask: [UInt8] = [1, 2, 3, 4]
            let text = Array("over ws\n".utf8)
            let frame = [0x82, 0x80 | UInt8(text.count)] + mask + text.enumerated().map { $0.element ^ mask[$0.offset & 3] }
            try frame.withUnsafeBytes { try Syscall.writeAll(conn.fd, $0) }
            // The echo comes back in a binary frame (API 1.47).
            var got: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while got.count < 2 + text.count {
                let n = read(conn.fd, &buf, buf.count)
                if n <= 0 { break }
                got += buf[0..<n]
            }
            #expect(got.count >= 2 && got[0] == 0x82 && Array(got.dropFirst(2).prefix(text.count)) == text, "\(got)")
            let close: [UInt8] = [0x88, 0x82] + mask + [0x03 ^ 1, 0xe8 ^ 2]
            try close.withUnsafeBytes { try Syscall.writeAll(conn.fd, $0) }
            let rest = conn.readToEOF()
            #expect(rest.first == 0x88, "\(rest)")
            try await d.client.removeContainer(id, force: true)
        }
    }
}
