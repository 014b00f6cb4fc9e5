#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Foundation
import Synchronization

/// A TCP listener on 127.0.0.1 with a port the kernel picks, a thread per connection; the
/// test servers (token server, faulty proxy) are built on it. The handler owns the socket.
final class LoopbackServer: @unchecked Sendable {
    let fd: Int32
    let port: Int

    init(_ handle: @escaping @Sendable (Int32) -> Void) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let listenFd = fd
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listenFd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0, listen(fd, 64) == 0 else { throw BerthError.system("bind 127.0.0.1: \(Syscall.errnoText())") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listenFd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        Thread {
            while true {
                let c = accept(listenFd, nil, nil)
                if c < 0 { return }
                Thread { handle(c); close(c) }.start()
            }
        }.start()
    }

    func stop() { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
}

/// Reads an HTTP request head up to its blank line; nil when the peer closes first or opens
/// with a TLS handshake (these servers speak plain HTTP, as the registry under test does).
func readRequestHead(_ c: Int32) -> String? {
    var head = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 16384)
    while !head.containsCRLFCRLF {
        let n = read(c, &buf, buf.count)
        if n <= 0 { return nil }
        head += buf[0..<n]
        if head.first == 0x16 { return nil }
    }
    return String(decoding: head, as: UTF8.self)
}

extension Array where Element == UInt8 {
    var containsCRLFCRLF: Bool {
        guard count >= 4 else { return false }
        for i in 0...(count - 4) where self[i] == 13 && self[i + 1] == 10 && self[i + 2] == 13 && self[i + 3] == 10 { return true }
        return false
    }
}

/// Writes all of `s` to a socket.
func writeAll(_ c: Int32, _ s: String) {
    let bytes = Array(s.utf8)
    _ = bytes.withUnsafeBytes { write(c, $0.baseAddress, $0.count) }
}

/// A port on 127.0.0.1 nothing listens on, below the kernel's ephemeral range (32768 and up) so
/// outgoing connections cannot take it between this check and its use. Ports are handed out in
/// turn from a random start, so two tests running at once never get the same one.
func freeLoopbackPort() -> Int {
    while true {
        let port = nextLoopbackPort.withLock { n -> Int in
            n = n >= 31_999 ? 20_000 : n + 1
            return n
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        close(fd)
        if rc == 0 { return port }
    }
}

let nextLoopbackPort = Mutex(Int.random(in: 20_000..<32_000))
