#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Foundation

/// One health probe: `runc exec` of the probe command in the container, its stdout and stderr
/// on one pipe of which only the first 4 KiB are kept (the rest is read and dropped, so a
/// chatty probe costs no memory), stopped with SIGKILL at its timeout. The probe borrows a
/// worker thread while it runs; nothing is kept per container between probes.
extension Executor {
    /// Writes the probe's process spec once per run of the container (`exec/<id>/health`);
    /// every probe of that run reuses it.
    public func prepareProbe(containerID: String, argv: [String]) throws {
        let process = try execProcess(containerID: containerID, args: argv, env: [], user: nil, workingDir: nil,
                                      tty: false, privileged: false)
        _ = try ExecProcess.writeSpec(process, workDir: probeDir(containerID))
    }

    func probeDir(_ containerID: String) -> String { execRoot + "/exec/" + containerID + "/health" }

    public func probe(containerID: String, argv: [String], timeoutMs: Int64) async -> ProbeResult {
        let workDir = probeDir(containerID)
        do {
            let spec = workDir + "/process.json"
            if !FS.exists(spec) { try prepareProbe(containerID: containerID, argv: argv) }
            let pidFile = workDir + "/pid"
            unlink(pidFile)
            // runc writes the pid file through `.pid` (O_EXCL) and renames it: a probe killed at
            // its timeout while runc was there leaves it, and every later probe would fail.
            unlink(workDir + "/.pid")
            let out = try Syscall.pipe()
            let runcArgs = [Monitor.which(runc.binary) ?? runc.binary, "--root", runc.root, "exec", "--process", spec,
                            "--pid-file", pidFile, containerID]
            let pid: pid_t
            do { pid = try Subprocess.spawn(runcArgs, stdout: .fd(out.write), stderr: .fd(out.write)) } catch {
                close(out.read); close(out.write); throw error
            }
            close(out.write)
            return try await Blocking.run("berth-probe") {
                defer { close(out.read) }
                let (kept, timedOut) = Self.drain(out.read, deadline: ContinuousClock.now + .milliseconds(timeoutMs))
                if timedOut {
                    if let p = Int32((try? String(contentsOfFile: pidFile, encoding: .utf8))?
                        .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") { Syscall.kill(p, SIGKILL) }
                    Syscall.kill(pid, SIGKILL)
                    _ = Subprocess.waitStatus(pid)
                    return ProbeResult(exitCode: -1, output: "Health check exceeded timeout (\(Self.seconds(timeoutMs)))")
                }
                var code = Int(Subprocess.waitStatus(pid))
                let text = String(decoding: kept, as: UTF8.self)
                if code == 255, let c = ExecProcess.startFailureCode(text) { code = c }
                return ProbeResult(exitCode: code, output: text)
            }
        } catch {
            return ProbeResult(exitCode: -1, output: "health probe failed: \(error)")
        }
    }

    /// Reads until EOF or `deadline`, keeping the first 4 KiB.
    static func drain(_ fd: Int32, deadline: ContinuousClock.Instant) -> (kept: [UInt8], timedOut: Bool) {
        var kept: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let left = deadline - ContinuousClock.now
            if left <= .zero { return (kept, true) }
            let (secs, atto) = left.components
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(clamping: secs * 1000 + atto / 1_000_000_000_000_000 + 1)
            let r = poll(&p, 1, ms)
            if r < 0 { if errno == EINTR { continue }; return (kept, false) }
            if r == 0 { continue }
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return (kept, false) }
            if kept.count < 4096 { kept += buf[0..<min(n, 4096 - kept.count)] }
        }
    }

    /// A duration as Go prints one (dockerd's message does): `200ms`, `30s`, `1.5s`, `1m30s`.
    static func seconds(_ ms: Int64) -> String {
        if ms < 1000 { return "\(ms)ms" }
        let minutes = ms / 60_000, rest = ms % 60_000
        let secs = rest % 1000 == 0 ? "\(rest / 1000)s" : String(format: "%gs", Double(rest) / 1000)
        return minutes > 0 ? "\(minutes)m" + (rest == 0 ? "0s" : secs) : secs
    }
}
