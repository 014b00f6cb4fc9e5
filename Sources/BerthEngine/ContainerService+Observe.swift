import BerthExecutor
import BerthModels
import BerthStore
import BerthSystem
import Foundation

/// top and stats: read from the host (procps, cgroup files), never from inside the container.
extension ContainerService {
    nonisolated func running(_ ref: String) throws -> ContainerRecord {
        let c = try resolve(ref)
        guard isRunning(c) else { throw BerthError.conflict("Container \(c.id) is not running") }
        return c
    }

    /// `GET /containers/{id}/top`: the host's `ps` with the caller's arguments (no shell),
    /// keeping the rows of the container's processes.
    public nonisolated func top(_ ref: String, psArgs: String?) async throws -> TopResponse {
        let c = try running(ref)
        let pids = Set(CgroupStats.pids(c.id))
        let args = (psArgs ?? "-ef").split(separator: " ").map(String.init)
        let r = try await Subprocess.run(["ps"] + args)
        guard r.status == 0 else { throw BerthError.system("Error running ps: \(r.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))") }
        let lines = r.stdoutText.split(separator: "\n").map(String.init)
        guard let header = lines.first else { return TopResponse(Titles: [], Processes: []) }
        let titles = header.split(separator: " ").map(String.init)
        guard let pidCol = titles.firstIndex(of: "PID") else { throw BerthError.system("Couldn't find PID field in ps output") }
        var procs: [[String]] = []
        for line in lines.dropFirst() {
            let f = line.split(separator: " ", maxSplits: titles.count - 1, omittingEmptySubsequences: true).map(String.init)
            guard f.count > pidCol, let pid = Int32(f[pidCol]), pids.contains(pid) else { continue }
            procs.append(f)
        }
        return TopResponse(Titles: titles, Processes: procs)
    }

    /// `GET /containers/{id}/stats`: one sample (one-shot), two a second apart (stream=false), or a
    /// sample every second until the client leaves or the container stops.
    public nonisolated func stats(_ ref: String, stream: Bool, oneShot: Bool) throws -> AsyncStream<ContainerStats> {
        let c = try resolve(ref)
        let store = self.store
        return AsyncStream { cont in
            let task = Task {
                var prev: ContainerStats? = nil
                while !Task.isCancelled {
                    guard let cur = try? store.container(c.id) else { break }
                    let running = cur.status == "running" || cur.status == "paused"
                    let s = CgroupStats.sample(id: c.id, name: cur.name, pid: Int32(cur.pid), previous: prev)
                    if !running {
                        // A stopped container reports zeros, as dockerd does.
                        cont.yield(ContainerStats(name: "/" + cur.name, id: c.id, read: Timestamp.zero, preread: Timestamp.zero,
                                                  pids: .init(current: nil, limit: nil),
                                                  blkio: .init(io_service_bytes_recursive: nil, io_serviced_recursive: nil),
                                                  cpu: .empty, precpu: .empty,
                                                  memory: .init(usage: nil, max_usage: nil, stats: nil, failcnt: nil, limit: nil),
                                                  networks: nil))
                        break
                    }
                    if stream || oneShot || prev != nil { cont.yield(s) }
                    if oneShot || (!stream && prev != nil) { break }
                    prev = s
                    try? await Task.sleep(for: .seconds(1))  // the sampling interval, as dockerd's collector
                }
                cont.finish()
            }
            cont.onTermination = { _ in task.cancel() }
        }
    }
}
