//! Collectives: what data-parallel training needs from the processes it
//! runs on, and the engines that provide it.
//!
//! tfg does not move bytes between processes itself: an existing engine does
//! (MPI here, and NCCL for gradients on GPUs; docs/distributed.md). A [`Collective`] is one process's handle
//! on a group of ranks; [`Solo`] is the group of one, which every
//! single-process command uses. [`join`] picks the engine the process was
//! launched under. Gradients cross as one fused buffer per step
//! ([`Collective::all_reduce_mean`]), not one message per tensor.

#[cfg(feature = "mpi")]
mod mpi;

use crate::Error;
use tfg_ir::{DType, Data, Tensor};

/// One process's view of a group of ranks that train together. Every rank
/// must make the same calls in the same order, as MPI requires.
pub trait Collective {
    /// This process's rank, from 0.
    fn rank(&self) -> usize;
    /// How many ranks the group has.
    fn ranks(&self) -> usize;
    /// Sums `values` element-wise over every rank, in place.
    fn all_reduce_sum_f32(&self, values: &mut [f32]) -> Result<(), Error>;
    /// Sums `values` element-wise over every rank, in place.
    fn all_reduce_sum_f64(&self, values: &mut [f64]) -> Result<(), Error>;
    /// Every rank's `value`, by rank.
    fn all_gather(&self, value: u64) -> Result<Vec<u64>, Error>;
    /// Gives every rank rank 0's `bytes`, in place.
    fn broadcast(&self, bytes: &mut [u8]) -> Result<(), Error>;
    /// Returns when every rank has called it.
    fn barrier(&self) -> Result<(), Error>;
    /// Ends every rank of the group with exit status `code`, now.
    fn abort(&self, code: i32) -> !;

    /// Replaces every float tensor of `tensors` by its mean over the ranks,
    /// in one all-reduce (of f32 when every tensor is f32, of f64 otherwise).
    /// Returns the bytes that one rank contributed.
    fn all_reduce_mean(&self, tensors: &mut [Tensor]) -> Result<usize, Error> {
        let ranks = self.ranks() as f64;
        let floats = || tensors.iter().filter(|t| t.dtype().is_float());
        if floats().all(|t| t.dtype() == DType::F32) {
            let mut fused = Vec::with_capacity(floats().map(|t| t.data.len()).sum());
            for t in tensors.iter() {
                if let Data::F32(v) = &t.data {
                    fused.extend_from_slice(v);
                }
            }
            self.all_reduce_sum_f32(&mut fused)?;
            // A multiplication vectorises where a division would not; by
            // 1/2 or 1/4 it is exact, by 1/3 within an ulp of the quotient.
            let scale = (1.0 / ranks) as f32;
            let mut rest = fused.as_slice();
            for t in tensors.iter_mut() {
                if let Data::F32(v) = &mut t.data {
                    let (mine, after) = rest.split_at(v.len());
                    for (x, sum) in v.iter_mut().zip(mine) {
                        *x = sum * scale;
                    }
                    rest = after;
                }
            }
            return Ok(fused.len() * 4);
        }
        let mut fused: Vec<f64> = floats()
            .flat_map(|t| (0..t.data.len()).map(|i| t.data.get_f64(i)))
            .collect();
        self.all_reduce_sum_f64(&mut fused)?;
        let mut at = 0;
        for t in tensors.iter_mut().filter(|t| t.dtype().is_float()) {
            let n = t.data.len();
            let mean = fused[at..at + n].iter().map(|s| s / ranks);
            t.data = Data::from_f64(t.dtype(), mean);
            at += n;
        }
        Ok(fused.len() * 8)
    }
}

/// The group of one process: collectives are the identity.
pub struct Solo;

impl Collective for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn ranks(&self) -> usize {
        1
    }
    fn all_reduce_sum_f32(&self, _: &mut [f32]) -> Result<(), Error> {
        Ok(())
    }
    fn all_reduce_sum_f64(&self, _: &mut [f64]) -> Result<(), Error> {
        Ok(())
    }
    fn all_gather(&self, value: u64) -> Result<Vec<u64>, Error> {
        Ok(vec![value])
    }
    fn broadcast(&self, _: &mut [u8]) -> Result<(), Error> {
        Ok(())
    }
    fn barrier(&self) -> Result<(), Error> {
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// The launcher this process was started by, read from the environment the
/// MPI launchers set (Open MPI's `mpirun`, MPICH's Hydra, PMIx): its
/// variable and the number of ranks it says.
pub fn launcher() -> Option<(&'static str, usize)> {
    from_env(["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"])
}

/// The first of `vars` (one per launcher: Open MPI, MPICH's Hydra, PMIx)
/// that is set to a number, and the number.
fn from_env(vars: [&'static str; 3]) -> Option<(&'static str, usize)> {
    vars.into_iter()
        .find_map(|var| Some((var, std::env::var(var).ok()?.parse().ok()?)))
}

/// This process's index among the ranks on its machine, as the MPI
/// launchers say it (0 when not launched by one): which GPU it takes.
pub fn local_rank() -> usize {
    from_env([
        "OMPI_COMM_WORLD_LOCAL_RANK",
        "MPI_LOCALRANKID",
        "PMIX_LOCAL_RANK",
    ])
    .map_or(0, |(_, n)| n)
}

/// How many ranks run on this machine, as the MPI launchers say it (1 when
/// not launched by one).
pub fn local_ranks() -> usize {
    from_env([
        "OMPI_COMM_WORLD_LOCAL_SIZE",
        "MPI_LOCALNRANKS",
        "PMIX_LOCAL_SIZE",
    ])
    .map_or(1, |(_, n)| n)
}

/// The group this process trains in: the MPI world when an MPI launcher
/// started it, [`Solo`] otherwise. A process launched by MPI in a build
/// without the `mpi` feature is refused when it has company (one rank alone
/// trains as [`Solo`]). Ranks that share a machine split its cores
/// between their compiled kernels' threads.
pub fn join() -> Result<Box<dyn Collective>, Error> {
    let Some((var, ranks)) = launcher() else {
        return Ok(Box::new(Solo));
    };
    #[cfg(feature = "mpi")]
    {
        let _ = (var, ranks);
        // Ranks that share a machine share its cores: each compiled kernel
        // gets cores / ranks-here threads (unless RAYON_NUM_THREADS says).
        tfg_cpu::share_cores(local_ranks());
        Ok(Box::new(mpi::Mpi::init()?))
    }
    #[cfg(not(feature = "mpi"))]
    {
        if ranks <= 1 {
            return Ok(Box::new(Solo));
        }
        Err(Error::new(format!(
            "this process is one of {ranks} MPI ranks ({var} is set), but this tfg was built without MPI; \
             build it with the `mpi` feature (the default) to train data-parallel"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group whose other ranks hold fixed values: a sum adds theirs.
    struct Others(Vec<f64>);

    impl Collective for Others {
        fn rank(&self) -> usize {
            0
        }
        fn ranks(&self) -> usize {
            2
        }
        fn all_reduce_sum_f32(&self, values: &mut [f32]) -> Result<(), Error> {
            for (v, o) in values.iter_mut().zip(&self.0) {
                *v += *o as f32;
            }
            Ok(())
        }
        fn all_reduce_sum_f64(&self, values: &mut [f64]) -> Result<(), Error> {
            for (v, o) in values.iter_mut().zip(&self.0) {
                *v += o;
            }
            Ok(())
        }
        fn all_gather(&self, value: u64) -> Result<Vec<u64>, Error> {
            Ok(vec![value, value])
        }
        fn broadcast(&self, _: &mut [u8]) -> Result<(), Error> {
            Ok(())
        }
        fn barrier(&self) -> Result<(), Error> {
            Ok(())
        }
        fn abort(&self, code: i32) -> ! {
            std::process::exit(code)
        }
    }

    fn tensor(data: Data) -> Tensor {
        let n = data.len();
        Tensor::new(vec![n], data).expect("fits")
    }

    #[test]
    fn means_cross_in_one_buffer_and_land_in_their_tensors() {
        let others = Others(vec![3.0, 5.0, 7.0]);
        let mut ts = vec![
            tensor(Data::F32(vec![1.0, 1.0])),
            tensor(Data::I64(vec![9])),
            tensor(Data::F32(vec![3.0])),
        ];
        assert_eq!(others.all_reduce_mean(&mut ts).expect("reduces"), 12);
        assert_eq!(ts[0].data, Data::F32(vec![2.0, 3.0]));
        assert_eq!(ts[1].data, Data::I64(vec![9]), "integers are not averaged");
        assert_eq!(ts[2].data, Data::F32(vec![5.0]));

        let mut mixed = vec![
            tensor(Data::F64(vec![1.0])),
            tensor(Data::F32(vec![1.0, 2.0])),
        ];
        assert_eq!(others.all_reduce_mean(&mut mixed).expect("reduces"), 24);
        assert_eq!(mixed[0].data, Data::F64(vec![2.0]));
        assert_eq!(mixed[1].data, Data::F32(vec![3.0, 4.5]));
    }
}
