import BerthExecutor
import BerthModels
import BerthStore
import BerthSystem
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Pause, unpause and live resource updates.
extension ContainerService {
    /// Resizes the container's terminal.
    public nonisolated func resize(_ ref: String, height: Int, width: Int) throws {
        let c = try resolve(ref)
        guard isRunning(c), height > 0, width > 0 else { return }
        runtime.resize(c.id, height: height, width: width)
    }

    /// `POST /containers/{id}/update`: resources applied with `runc update` when running, and recorded.
    public func update(_ ref: String, _ u: HostConfig) async throws -> [String] {
        let c = try resolve(ref)
        return try await locks.with(c.id) {
            guard let cur = try self.store.container(c.id), var hc = self.decode(HostConfig.self, cur.host_config) else {
                throw BerthError.notFound("No such container: \(ref)")
            }
            if let m = u.Memory, m != 0 {
                if m < 6 * 1024 * 1024 { throw BerthError.invalid("Minimum memory limit allowed is 6MB") }
                hc.Memory = m
                if u.MemorySwap == nil || u.MemorySwap == 0 {
                    if (hc.MemorySwap ?? 0) > 0 && hc.MemorySwap! < m { hc.MemorySwap = ResourceRules.defaultSwap(m) }
                }
            }
            if let s = u.MemorySwap, s != 0 {
                if s > 0 && s < (hc.Memory ?? 0) {
                    throw BerthError.invalid("Minimum memoryswap limit should be larger than memory limit, see usage")
                }
                hc.MemorySwap = s
            }
            if let v = u.MemoryReservation, v != 0 { hc.MemoryReservation = v }
            if let v = u.CpuShares, v != 0 { hc.CpuShares = v }
            if let v = u.CpuPeriod, v != 0 { hc.CpuPeriod = v }
            if let v = u.CpuQuota, v != 0 { hc.CpuQuota = v }
            if let v = u.NanoCpus, v != 0 { hc.NanoCpus = v }
            if let v = u.CpusetCpus, !v.isEmpty { hc.CpusetCpus = v }
            if let v = u.CpusetMems, !v.isEmpty { hc.CpusetMems = v }
            if let v = u.PidsLimit, v != 0 { hc.PidsLimit = v }
            if let r = u.RestartPolicy, let n = r.Name, !n.isEmpty {
                let rule = try RestartRule(r)
                if rule.kind != .no && hc.AutoRemove == true {
                    throw BerthError.invalid("Restart policy cannot be updated because AutoRemove is enabled for the container")
                }
                hc.RestartPolicy = r
            }
            try ResourceRules.check(hc)
            if cur.status == "running" || cur.status == "paused" {
                try await self.runtime.update(c.id, ResourceMapping.resources(hc))
            }
            let encoded = try JSONEncoder().encode(hc)
            try self.store.updateContainer(c.id) { $0.host_config = encoded }
            self.emit("update", cur)
            return []
        }
    }

}
