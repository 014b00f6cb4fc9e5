#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Foundation
import Synchronization

/// A piece of container output; `stream` is 1 for stdout, 2 for stderr (stdcopy numbering).
public struct OutputChunk: Sendable {
    public let stream: UInt8
    public let bytes: [UInt8]
    public init(stream: UInt8, bytes: [UInt8]) { self.stream = stream; self.bytes = bytes }
}

/// The stdio of a running process as the API layer sees it, whatever holds it (conmon's attach
/// socket for containers, pipes for exec).
public protocol StdioSession: AnyObject, Sendable {
    var output: AsyncStream<OutputChunk> { get }
    func writeStdin(_ bytes: [UInt8]) async
    func closeStdin()
    func close()
}

/// Runs blocking descriptor I/O off the cooperative pool.
enum BlockingIO {
    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { cont in DispatchQueue.global().async { cont.resume(returning: body()) } }
    }
}

/// A client of conmon's attach socket (SOCK_SEQPACKET; each packet starts with 2=stdout, 3=stderr).
public final class AttachSocket: StdioSession {
    private let fd: Int32
    /// True once the reader thread closed the descriptor; writers check it under the lock.
    private let fdClosed = LockedFlag()
    public let output: AsyncStream<OutputChunk>

    public init(path: String) throws {
        let fd: Int32
        do { fd = try Syscall.connectUnix(path, type: Int32(SOCK_SEQPACKET.rawValue)) }
        catch { throw BerthError.system("connect to monitor \(path): \(error)") }
        self.fd = fd
        var cont: AsyncStream<OutputChunk>.Continuation!
        output = AsyncStream(bufferingPolicy: .bufferingOldest(4096)) { cont = $0 }
        let c = cont!
        let thread = Thread { [fdClosed] in
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                let kind = buf[0]
                guard n > 1, kind == 2 || kind == 3 else { continue }
                c.yield(OutputChunk(stream: kind == 2 ? 1 : 2, bytes: Array(buf[1..<n])))
            }
            c.finish()
            fdClosed.withLock { closed in closed = true; _ = Glibc.close(fd) }
        }
        thread.name = "berth-attach"
        thread.start()
    }

    public func writeStdin(_ bytes: [UInt8]) async {
        let fd = self.fd
        let lock = fdClosed
        _ = await BlockingIO.run {
            lock.withLock { closed in closed ? false : bytes.withUnsafeBytes { (try? Syscall.writeAll(fd, $0)) != nil } }
        }
    }

    /// Half-closes the socket: conmon closes the container's stdin unless told to leave it open.
    public func closeStdin() { fdClosed.withLock { if !$0 { _ = shutdown(fd, Int32(SHUT_WR)) } } }

    /// Ends the session; the reader thread sees EOF and closes the descriptor.
    public func close() { fdClosed.withLock { if !$0 { _ = shutdown(fd, Int32(SHUT_RDWR)) } } }
}

/// A flag behind a lock, shareable with threads (Mutex itself cannot be captured).
final class LockedFlag: Sendable {
    private let m = Mutex(false)
    func withLock<T>(_ body: (inout Bool) -> T) -> T { m.withLock { body(&$0) } }
}
