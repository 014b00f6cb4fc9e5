#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Foundation

/// A process started in a running container with `runc exec`, its stdio on pipes held by berthd.
/// (Exec sessions do not outlive berthd; containers do.)
public final class ExecProcess: StdioSession {
    public let output: AsyncStream<OutputChunk>
    private let stdinFd: LockedFD
    private let pid: pid_t
    private let exitTask: Task<Int32, Never>
    public let pidFile: String

    public init(runc: Runc, containerID: String, process: OCISpec.Process, workDir: String, attachStdin: Bool) throws {
        try FS.mkdirAll(workDir, mode: 0o700)
        let specPath = workDir + "/process.json"
        pidFile = workDir + "/pid"
        FS.removeAll(pidFile)
        try FS.writeAtomically(specPath, try JSONEncoder().encode(process), mode: 0o600)
        let out = try Syscall.pipe(), err = try Syscall.pipe()
        let inp = attachStdin ? try Syscall.pipe() : nil
        let argv = [Monitor.which(runc.binary) ?? runc.binary, "--root", runc.root, "exec", "--process", specPath,
                    "--pid-file", pidFile, containerID]
        do {
            pid = try Subprocess.spawn(argv, stdin: inp.map { .fd($0.read) } ?? .null, stdout: .fd(out.write), stderr: .fd(err.write))
        } catch {
            [out.read, out.write, err.read, err.write, inp?.read ?? -1, inp?.write ?? -1].forEach(Syscall.closeQuietly)
            throw error
        }
        Glibc.close(out.write); Glibc.close(err.write)
        if let inp { Glibc.close(inp.read) }
        stdinFd = LockedFD(inp?.write ?? -1)
        var cont: AsyncStream<OutputChunk>.Continuation!
        output = AsyncStream(bufferingPolicy: .bufferingOldest(4096)) { cont = $0 }
        let c = cont!
        let remaining = LockedCounter(2)
        for (fd, stream) in [(out.read, UInt8(1)), (err.read, UInt8(2))] {
            let t = Thread {
                var buf = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    c.yield(OutputChunk(stream: stream, bytes: Array(buf[0..<n])))
                }
                Glibc.close(fd)
                if remaining.decrement() == 0 { c.finish() }
            }
            t.start()
        }
        let p = pid
        exitTask = Task.detached { await BlockingIO.run { Subprocess.waitStatus(p) } }
    }

    /// The exec'd process's host pid, once runc wrote it.
    public var processPid: Int32 {
        Int32((try? String(contentsOfFile: pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
    }

    /// Waits for the process; runc exec returns the process's exit status.
    public func wait() async -> Int32 { await exitTask.value }

    public func writeStdin(_ bytes: [UInt8]) async {
        let f = stdinFd
        _ = await BlockingIO.run { f.withFD { fd in fd >= 0 && bytes.withUnsafeBytes { (try? Syscall.writeAll(fd, $0)) != nil } } }
    }

    public func closeStdin() { stdinFd.closeFD() }
    public func close() { stdinFd.closeFD() }
}

final class LockedFD: @unchecked Sendable {
    private var fd: Int32
    private let lock = NSLock()
    init(_ fd: Int32) { self.fd = fd }
    func withFD<T>(_ body: (Int32) -> T) -> T { lock.lock(); defer { lock.unlock() }; return body(fd) }
    func closeFD() { lock.lock(); if fd >= 0 { Glibc.close(fd); fd = -1 }; lock.unlock() }
    deinit { if fd >= 0 { Glibc.close(fd) } }
}

final class LockedCounter: @unchecked Sendable {
    private var n: Int
    private let lock = NSLock()
    init(_ n: Int) { self.n = n }
    func decrement() -> Int { lock.lock(); defer { lock.unlock() }; n -= 1; return n }
}
