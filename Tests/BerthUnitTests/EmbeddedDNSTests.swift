#if canImport(Glibc)
import Glibc
#endif
import BerthNetwork
import BerthSystem
import Foundation
import Testing

/// The embedded resolver over loopback sockets: local names answered, the rest relayed, and an
/// answer forged by anyone but the server asked (a container can reach the relay's socket) dropped.
@Suite struct EmbeddedDNSTests {
    /// A UDP socket on 127.0.0.1 with a receive timeout.
    final class UDP: Sendable {
        let fd: Int32
        let port: UInt16
        init() {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_addr.s_addr = inet_addr("127.0.0.1")
            _ = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
            // Generous: with every suite running at once on two cores, the resolver's tasks can
            // wait seconds for a thread; an answer that never comes still ends the test.
            var tv = timeval(tv_sec: 20, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            self.fd = fd
            port = UInt16(bigEndian: sa.sin_port)
        }
        deinit { close(fd) }
        func send(_ b: [UInt8], to port: UInt16) {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_addr.s_addr = inet_addr("127.0.0.1")
            sa.sin_port = port.bigEndian
            _ = withUnsafePointer(to: &sa) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, b, b.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        /// The next datagram and the port it came from, nil after the timeout; the blocking read
        /// runs off the cooperative pool, which the resolver's own tasks need meanwhile.
        func receive() async -> ([UInt8], UInt16)? {
            await withCheckedContinuation { c in DispatchQueue.global().async { c.resume(returning: self.blockingReceive()) } }
        }
        func blockingReceive() -> ([UInt8], UInt16)? {
            var buf = [UInt8](repeating: 0, count: 4096)
            var sa = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let n = withUnsafeMutablePointer(to: &sa) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buf, buf.count, 0, $0, &len) }
            }
            return n > 0 ? (Array(buf[0..<n]), UInt16(bigEndian: sa.sin_port)) : nil
        }
    }

    @Test func localNamesRelayAndForgedAnswers() async throws {
        let upstream = UDP()
        let dns = Self.resolver(upstreamPort: upstream.port)
        let served = UDP()   // stands for the socket in the container's namespace
        let servedPort = served.port
        let fd = dup(served.fd)
        try await dns.serve(containerID: "c1", udp: fd)
        defer { Task { await dns.stop(containerID: "c1") } }
        let client = UDP()

        client.send(NetworkUnitTests.query("web"), to: servedPort)
        let local = try #require(await client.receive())
        #expect(Array(local.0.suffix(4)) == [10, 0, 0, 7])

        let query = NetworkUnitTests.query("example.org")
        client.send(query, to: servedPort)
        let (relayed, relayPort) = try #require(await upstream.receive())
        #expect(Array(relayed.dropFirst(2)) == Array(query.dropFirst(2)))
        // A forger guesses the relay's id and port; only the server's own answer gets through.
        var forged = relayed
        forged[2] = 0x81; forged[3] = 0x80; forged += [0xde, 0xad]
        UDP().send(forged, to: relayPort)
        var real = relayed
        real[2] = 0x81; real[3] = 0x83   // NXDOMAIN from the real server
        try await Task.sleep(for: .milliseconds(100))
        upstream.send(real, to: relayPort)
        let answer = try #require(await client.receive())
        #expect(Array(answer.0.prefix(2)) == Array(query.prefix(2)))   // the asker's id is back
        #expect(answer.0[3] & 0x0f == 3 && answer.0.suffix(2) != [0xde, 0xad])
    }

    static func resolver(upstreamPort: UInt16 = 9) -> EmbeddedDNS {
        EmbeddedDNS(upstreams: ["127.0.0.1"], port: Int(upstreamPort), names: .init(
            addresses: { _, name in name == "web" ? ["10.0.0.7", "fd00:7::2"] : [] },
            name: { _, address in address == "10.0.0.7" || address == "fd00:7::2" ? "web.app" : nil }))
    }

    /// A listening TCP socket on 127.0.0.1 and its port.
    static func listener() -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, 8)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return (fd, UInt16(bigEndian: sa.sin_port))
    }

    /// Reverse lookups of a container's address, and DNS over TCP (length-prefixed messages,
    /// two in one write, a third split across writes).
    @Test func pointerRecordsAndTCP() async throws {
        let dns = Self.resolver()
        let served = UDP()
        let tcp = Self.listener()
        try await dns.serve(containerID: "c2", udp: dup(served.fd), tcp: tcp.fd)
        defer { Task { await dns.stop(containerID: "c2") } }

        let client = UDP()
        client.send(NetworkUnitTests.query("7.0.0.10.in-addr.arpa", type: 12), to: served.port)
        let ptr = try #require(await client.receive())
        #expect(ptr.0[3] & 0x0f == 0 && ptr.0[7] == 1)
        #expect(Array(ptr.0.suffix(9)) == [3] + Array("web".utf8) + [3] + Array("app".utf8) + [0])
        let q = try #require(DNSQuery(NetworkUnitTests.query("7.0.0.10.in-addr.arpa", type: 12)))
        #expect(q.reverseAddress == "10.0.0.7")
        let v6 = "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.7.0.0.0.0.0.d.f.ip6.arpa"
        #expect(DNSQuery(NetworkUnitTests.query(v6, type: 12))?.reverseAddress == "fd00:7::2")
        client.send(NetworkUnitTests.query("web", type: 28), to: served.port)
        let aaaa = try #require(await client.receive())
        #expect(aaaa.0[7] == 1 && Array(aaaa.0.suffix(16)) == IPv6("fd00:7::2")!.bytes)
        #expect(DNSQuery(NetworkUnitTests.query("7.0.0.in-addr.arpa", type: 12))?.reverseAddress == nil)

        let stream = try await Blocking.run("tcp-dns") { () -> [[UInt8]] in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            // Generous: with every suite running at once on two cores, the resolver's tasks can
            // wait seconds for a thread; an answer that never comes still ends the test.
            var tv = timeval(tv_sec: 20, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_addr.s_addr = inet_addr("127.0.0.1")
            sa.sin_port = tcp.port.bigEndian
            _ = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            func framed(_ m: [UInt8]) -> [UInt8] { [UInt8(m.count >> 8), UInt8(m.count & 0xff)] + m }
            let a = framed(NetworkUnitTests.query("web")), b = framed(NetworkUnitTests.query("7.0.0.10.in-addr.arpa", type: 12))
            let c = framed(NetworkUnitTests.query("WEB"))
            let first = a + b + c.prefix(5)
            _ = send(fd, first, first.count, 0)
            usleep(50_000)
            let rest = Array(c.dropFirst(5))
            _ = send(fd, rest, rest.count, 0)
            var got: [UInt8] = []
            var answers: [[UInt8]] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while answers.count < 3 {
                let n = recv(fd, &buf, buf.count, 0)
                if n <= 0 { break }
                got += buf[0..<n]
                while got.count >= 2, got.count >= 2 + (Int(got[0]) << 8 | Int(got[1])) {
                    let len = Int(got[0]) << 8 | Int(got[1])
                    answers.append(Array(got[2..<2 + len]))
                    got.removeFirst(2 + len)
                }
            }
            return answers
        }
        #expect(stream.count == 3)
        #expect(stream.first.map { Array($0.suffix(4)) } == [10, 0, 0, 7])
        #expect(stream.dropFirst().first.map { $0[7] } == 1)
        #expect(stream.last.map { Array($0.suffix(4)) } == [10, 0, 0, 7])
    }
}
