//! Averaging a run's outputs over the GPUs of several processes, through
//! NCCL: the gradients of a data-parallel step are reduced where they were
//! computed, in one grouped all-reduce, and copied back averaged.
//!
//! `libnccl` is loaded when first asked for (cudarc's dynamic loading):
//! [`available`] says whether it can be. The processes agree on a
//! [`UniqueId`] through another channel (MPI, in the driver): rank 0 makes
//! it, the others receive it, and then each [`Group::join`]s.

use crate::cuda::LoadedModule;
use cudarc::nccl::{result, sys};
use std::mem::MaybeUninit;

/// What the ranks of one group share to find each other (NCCL's
/// `ncclUniqueId`, as plain bytes to send).
pub type UniqueId = [u8; 128];

/// Whether NCCL's library (`libnccl.so`) can be loaded here.
pub fn available() -> bool {
    unsafe { sys::is_culib_present() }
}

fn nccl(what: &str) -> impl Fn(result::NcclError) -> String + '_ {
    move |e| format!("NCCL {what}: {e:?}")
}

/// A new group's id: made on one rank (rank 0) and sent to the others.
pub fn unique_id() -> Result<UniqueId, String> {
    if !available() {
        return Err(missing());
    }
    let id = result::get_uniqueid().map_err(nccl("unique id"))?;
    Ok(id.internal.map(|c| c as u8))
}

/// Why a group cannot form where [`available`] is false, with the fix.
pub fn missing() -> String {
    "NCCL's library (libnccl.so) was not found: install libnccl2 and libnccl-dev, or put the directory that holds libnccl.so on LD_LIBRARY_PATH".into()
}

/// This process's member of a group of GPUs, one a rank.
pub struct Group {
    comm: sys::ncclComm_t,
}

impl Group {
    /// Joins group `id` as `rank` of `ranks`, on the GPU that runs `m`.
    /// Returns when every rank has joined.
    pub fn join(
        id: &UniqueId,
        rank: usize,
        ranks: usize,
        m: &LoadedModule,
    ) -> Result<Group, String> {
        if !available() {
            return Err(missing());
        }
        let count =
            |n: usize| i32::try_from(n).map_err(|_| format!("{n} ranks are too many for NCCL"));
        // NCCL takes the GPU current on this thread.
        m.bind()?;
        let id = sys::ncclUniqueId {
            internal: id.map(|b| b as core::ffi::c_char),
        };
        let mut comm = MaybeUninit::uninit();
        unsafe { result::comm_init_rank(comm.as_mut_ptr(), count(ranks)?, id, count(rank)?) }
            .map_err(nccl("joining the group"))?;
        Ok(Group {
            comm: unsafe { comm.assume_init() },
        })
    }

    /// Averages the buffers `(address, elements, is_f64)` over the ranks,
    /// in place, on `stream`, as one grouped call (NCCL fuses it).
    pub(crate) fn average(
        &self,
        buffers: &[(u64, usize, bool)],
        stream: cudarc::driver::sys::CUstream,
    ) -> Result<(), String> {
        result::group_start().map_err(nccl("group start"))?;
        let mut failed = None;
        for &(at, n, f64) in buffers {
            let dtype = if f64 {
                sys::ncclDataType_t::ncclFloat64
            } else {
                sys::ncclDataType_t::ncclFloat32
            };
            let ptr = at as *mut core::ffi::c_void;
            // In place: NCCL reads and writes the same device memory.
            let r = unsafe {
                result::all_reduce(
                    ptr,
                    ptr,
                    n,
                    dtype,
                    sys::ncclRedOp_t::ncclAvg,
                    self.comm,
                    stream as _,
                )
            };
            if let Err(e) = r {
                failed = Some(nccl("all-reduce")(e));
                break;
            }
        }
        // The group is closed whatever happened inside it.
        let ended = result::group_end().map_err(nccl("group end"));
        match failed {
            Some(e) => Err(e),
            None => ended.map(|_| ()),
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // Nothing to report to at the end of the process.
        let _ = unsafe { result::comm_destroy(self.comm) };
    }
}
