import Magma

extension VirtioDeviceModel {
    /// For `magmactl bench`'s floor of the virtio command ring only: applies payloads of
    /// context commands to context `contextId` exactly as the guest's ring consumer applies the
    /// records of one drain (under one hold of the model's lock, each command as it is decoded,
    /// with no copy), but with no ring: no record header, checks, seqnos, status word or
    /// depends-on. So a floor that carries the same bytes through a plain shared buffer and hands
    /// here what each pass finds there does the same host work as the ring, and the ratio
    /// between them is what the ring's protocol costs. False if there is no such context, or
    /// the commands failed it.
    @_spi(Benchmark)
    public func applyWithoutRing(_ payloads: [UnsafeRawBufferPointer], contextId: UInt32) -> Bool {
        let device = device, shares = shares
        return state.withLock { state in
            guard let context = state.contexts[contextId], context.connection.error == nil else { return false }
            var scope = CommandScope(resources: state.resources, device: device, shares: shares, pending: nil)
            for payload in payloads {
                if let failure = context.applyDecoding(payload, onRing: nil, "payload", &scope) {
                    context.connection.fail(failure)
                    return false
                }
            }
            return true
        }
    }
}
