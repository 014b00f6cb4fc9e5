#if canImport(Glibc)
import Glibc
#endif
import BerthClient
import BerthModels
import BerthSystem
import Foundation
import Testing

/// Restart policies through the docker CLI, against dockerd's rules: the delay doubles from
/// 100 ms, on-failure stops at its count, a user's stop calls restarts off, and a berthd killed
/// during a delay picks the container up again.
@Suite(.enabled(if: Gate.runtime, Gate.runtimeReason)) struct RestartPolicyTests {
    @Test func alwaysClimbsAndSurvivesADaemonKill() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let since = String(Timestamp.nowNanos() / 1_000_000_000 - 1)
            #expect(try await d.docker("run", "-d", "--name", "rp-always", "--restart", "always", "busybox", "sh", "-c", "exit 3").status == 0)
            // 100 + 200 + 400 + 800 ms of delays: four restarts in a few seconds.
            #expect(try await eventually { Int(try await d.inspect("rp-always", "{{.RestartCount}}")) ?? 0 >= 4 })
            let ps = try await d.docker("ps", "-a", "--filter", "name=rp-always", "--format", "{{.Status}}").stdoutText
            #expect(ps.hasPrefix("Restarting (3)") || ps.hasPrefix("Up"), "\(ps)")
            let state = try await d.inspect("rp-always", "{{.State.Status}} {{.State.Running}} {{.State.ExitCode}}")
            #expect(state == "restarting true 3" || state.hasPrefix("running true"), "\(state)")
            let events = try await d.docker("events", "--since", since, "--until", String(Timestamp.nowNanos() / 1_000_000_000 + 1),
                                            "--filter", "container=rp-always").stdoutText
            #expect(events.components(separatedBy: " die ").count > 3 && events.components(separatedBy: " start ").count > 3, "\(events)")
            // berthd killed in the middle of it: the count goes on after it is back.
            let before = Int(try await d.inspect("rp-always", "{{.RestartCount}}")) ?? 0
            d.kill9()
            try await d.start()
            #expect(try await eventually { (Int(try await d.inspect("rp-always", "{{.RestartCount}}")) ?? 0) > before })
            // A user's stop ends it, also during a delay, and it stays stopped.
            #expect(try await d.docker("stop", "-t", "1", "rp-always").status == 0)
            let stopped = try await d.inspect("rp-always", "{{.State.Status}} {{.State.Running}}")
            #expect(stopped == "exited false", "\(stopped)")
            let count = try await d.inspect("rp-always", "{{.RestartCount}}")
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await d.inspect("rp-always", "{{.State.Status}} {{.RestartCount}}") == "exited \(count)")
        }
    }

    @Test func onFailureStopsAtItsCount() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            #expect(try await d.docker("run", "-d", "--name", "rp-fail", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 5").status == 0)
            #expect(try await eventually { try await d.inspect("rp-fail", "{{.State.Status}} {{.RestartCount}}") == "exited 2" })
            try await Task.sleep(for: .milliseconds(600))
            #expect(try await d.inspect("rp-fail", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}") == "exited 2 5")
            // Success is not restarted by on-failure.
            #expect(try await d.docker("run", "-d", "--name", "rp-ok", "--restart", "on-failure", "busybox", "true").status == 0)
            #expect(try await eventually { try await d.inspect("rp-ok", "{{.State.Status}}") == "exited" })
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await d.inspect("rp-ok", "{{.RestartCount}}") == "0")
        }
    }

    @Test func removeDuringTheDelayAndUpdate() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            #expect(try await d.docker("run", "-d", "--name", "rp-rm", "--restart", "always", "busybox", "sh", "-c", "exit 1").status == 0)
            #expect(try await eventually { try await d.inspect("rp-rm", "{{.State.Status}}") == "restarting" })
            let rm = try await d.docker("rm", "rp-rm")
            // It cycles between restarting and running; either way a plain rm is refused.
            #expect(rm.status != 0 && (rm.stderrText.contains("container is restarting") || rm.stderrText.contains("container is running")),
                    "\(rm.stderrText)")
            #expect(try await d.docker("rm", "-f", "rp-rm").status == 0)
            #expect(try await d.docker("inspect", "rp-rm").status != 0)
            // update --restart on a stopped container, then start: the policy applies.
            #expect(try await d.docker("create", "--name", "rp-up", "busybox", "sh", "-c", "exit 2").status == 0)
            #expect(try await d.docker("update", "--restart", "on-failure:1", "rp-up").status == 0)
            #expect(try await d.docker("start", "rp-up").status == 0)
            #expect(try await eventually { try await d.inspect("rp-up", "{{.State.Status}} {{.RestartCount}}") == "exited 1" })
            let bad = try await d.docker("run", "-d", "--restart", "always", "--rm", "busybox", "true")
            #expect(bad.status != 0, "\(bad.stderrText)")
        }
    }

    @Test func policiesAtDaemonStart() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            for (name, policy) in [("rp-a", "always"), ("rp-u", "unless-stopped"), ("rp-n", "no")] {
                #expect(try await d.docker("run", "-d", "--name", name, "--restart", policy, "busybox", "sleep", "300").status == 0)
                #expect(try await d.docker("stop", "-t", "0", name).status == 0)
            }
            d.terminate()
            try await d.start()
            // dockerd brings `always` back with the daemon even after a stop; not the others.
            #expect(try await eventually { try await d.inspect("rp-a", "{{.State.Status}}") == "running" })
            #expect(try await d.inspect("rp-u", "{{.State.Status}}") == "exited")
            #expect(try await d.inspect("rp-n", "{{.State.Status}}") == "exited")
        }
    }
}
