//! The CPU backend: struct-of-arrays buffers on the host, stepped by rayon over chunks of envs.
//!
//! Each chunk is stepped in two passes. The first applies `Env::step` to every env with no branches and no
//! calls, so the compiler vectorises it across envs (built once more with AVX2+FMA and picked at run time). The
//! second visits only the envs that finished and resets them. Nothing is allocated per env or per step.

use crate::batch::{BatchKernel, Field};
use crate::device::{try_filled, BufferInner, DeviceBuffer};
use crate::env::{Env, EnvSpec};
use crate::error::{Error, Result};
use crate::rng::{self, Stream};

/// Envs per rayon task: large enough to amortise scheduling, small enough to stay in L1/L2.
const CHUNK: usize = 512;

pub(crate) struct CpuBatch<E: Env> {
    params: E::Params,
    max_steps: u32,
    autoreset: bool,
    status: u32,
    b: Buffers<E>,
    /// Step every chunk on the calling thread rather than rayon's pool.
    inline: bool,
}

/// One env's stream of the batch, column by column.
struct Buffers<E: Env> {
    state: Vec<E::State>,
    obs: Vec<f32>,
    final_obs: Vec<f32>,
    reward: Vec<f32>,
    terminated: Vec<u32>,
    truncated: Vec<u32>,
    elapsed: Vec<u32>,
    key: Vec<u32>,
    counter: Vec<u32>,
    action_counter: Vec<u32>,
    ep_return: Vec<f32>,
    ep_length: Vec<u32>,
    done_count: Vec<u32>,
    done_return: Vec<f32>,
    done_length: Vec<u32>,
    actions: Vec<E::Action>,
}

/// Mutable views of envs `lo..hi` of every buffer.
struct Chunk<'a, E: Env> {
    state: &'a mut [E::State],
    obs: &'a mut [f32],
    final_obs: &'a mut [f32],
    reward: &'a mut [f32],
    terminated: &'a mut [u32],
    truncated: &'a mut [u32],
    elapsed: &'a mut [u32],
    key: &'a mut [u32],
    counter: &'a mut [u32],
    action_counter: &'a mut [u32],
    ep_return: &'a mut [f32],
    ep_length: &'a mut [u32],
    done_count: &'a mut [u32],
    done_return: &'a mut [f32],
    done_length: &'a mut [u32],
    actions: &'a mut [E::Action],
}

fn split<T>(s: &mut [T], mid: usize) -> (&mut [T], &mut [T]) {
    s.split_at_mut(mid)
}

impl<'a, E: Env> Chunk<'a, E> {
    fn len(&self) -> usize {
        self.state.len()
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let obs_dim = E::OBS_DIM;
        let (state, state2) = split(self.state, mid);
        let (obs, obs2) = split(self.obs, mid * obs_dim);
        let (final_obs, final_obs2) = split(self.final_obs, mid * obs_dim);
        let (reward, reward2) = split(self.reward, mid);
        let (terminated, terminated2) = split(self.terminated, mid);
        let (truncated, truncated2) = split(self.truncated, mid);
        let (elapsed, elapsed2) = split(self.elapsed, mid);
        let (key, key2) = split(self.key, mid);
        let (counter, counter2) = split(self.counter, mid);
        let (action_counter, action_counter2) = split(self.action_counter, mid);
        let (ep_return, ep_return2) = split(self.ep_return, mid);
        let (ep_length, ep_length2) = split(self.ep_length, mid);
        let (done_count, done_count2) = split(self.done_count, mid);
        let (done_return, done_return2) = split(self.done_return, mid);
        let (done_length, done_length2) = split(self.done_length, mid);
        let (actions, actions2) = split(self.actions, mid);
        (
            Chunk {
                state,
                obs,
                final_obs,
                reward,
                terminated,
                truncated,
                elapsed,
                key,
                counter,
                action_counter,
                ep_return,
                ep_length,
                done_count,
                done_return,
                done_length,
                actions,
            },
            Chunk {
                state: state2,
                obs: obs2,
                final_obs: final_obs2,
                reward: reward2,
                terminated: terminated2,
                truncated: truncated2,
                elapsed: elapsed2,
                key: key2,
                counter: counter2,
                action_counter: action_counter2,
                ep_return: ep_return2,
                ep_length: ep_length2,
                done_count: done_count2,
                done_return: done_return2,
                done_length: done_length2,
                actions: actions2,
            },
        )
    }
}

/// What a chunk task does, with everything it reads shared.
struct Task<'p, E: Env> {
    params: &'p E::Params,
    max_steps: u32,
    autoreset: bool,
    /// Steps to run; each draws fresh random actions first when `random` is set.
    steps: u32,
    random: bool,
}

impl<E: Env> Task<'_, E> {
    /// Runs the task on one chunk with the widest vector instructions this CPU has.
    fn run(&self, c: &mut Chunk<'_, E>) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512vl") && has!("avx512dq") && has!("avx2") && has!("fma") {
                // SAFETY: the CPU supports every feature `run_avx512` is compiled for, checked just above.
                return unsafe { self.run_avx512(c) };
            }
            if has!("avx2") && has!("fma") {
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                return unsafe { self.run_avx2(c) };
            }
        }
        self.run_portable(c)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
    unsafe fn run_avx512(&self, c: &mut Chunk<'_, E>) {
        self.run_portable(c)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, c: &mut Chunk<'_, E>) {
        self.run_portable(c)
    }

    #[inline(always)]
    fn run_portable(&self, c: &mut Chunk<'_, E>) {
        for _ in 0..self.steps {
            if self.random {
                sample_actions::<E>(self.params, c);
            }
            step_chunk(self, c);
            if self.autoreset {
                autoreset(self, c);
            }
        }
    }
}

fn par_chunks<E: Env>(c: Chunk<'_, E>, task: &Task<'_, E>) {
    if c.len() <= CHUNK {
        let mut c = c;
        task.run(&mut c);
    } else {
        let mid = (c.len() / 2).div_ceil(CHUNK) * CHUNK;
        let (a, b) = c.split_at(mid);
        rayon::join(|| par_chunks(a, task), || par_chunks(b, task));
    }
}

#[inline(always)]
fn sample_actions<E: Env>(p: &E::Params, c: &mut Chunk<'_, E>) {
    let n = c.len();
    let (key, action_counter, actions) = (&c.key[..n], &mut c.action_counter[..n], &mut c.actions[..n]);
    for i in 0..n {
        let k = action_counter[i];
        action_counter[i] = k.wrapping_add(1);
        actions[i] = E::random_action(p, rng::draw(rng::action_key(key[i]), k));
    }
}

/// Pass one: every env steps; TimeLimit and episode sums are updated. No branches, so it vectorises.
#[inline(always)]
fn step_chunk<E: Env>(t: &Task<'_, E>, c: &mut Chunk<'_, E>) {
    const { assert!(std::mem::size_of::<E::State>() % 4 == 0) };
    let n = c.len();
    let o = E::OBS_DIM;
    // Re-slicing every column to `n` lets the compiler drop the bounds checks inside the loop.
    let (state, actions) = (&mut c.state[..n], &c.actions[..n]);
    let (obs, key, counter) = (&mut c.obs[..n * o], &c.key[..n], &mut c.counter[..n]);
    let (reward, terminated, truncated) = (&mut c.reward[..n], &mut c.terminated[..n], &mut c.truncated[..n]);
    let (elapsed, ep_return, ep_length) = (&mut c.elapsed[..n], &mut c.ep_return[..n], &mut c.ep_length[..n]);
    for i in 0..n {
        // SAFETY: every column was re-sliced to exactly `n` envs above (`obs` to `n * o` values) and `i < n`;
        // unchecked indexing keeps panic branches out of the loop so that it vectorises.
        unsafe {
            let mut rng = Stream { key: *key.get_unchecked(i), counter: *counter.get_unchecked(i) };
            let (s, r, term) = E::step(t.params, state.get_unchecked(i), *actions.get_unchecked(i), &mut rng);
            *state.get_unchecked_mut(i) = s;
            *counter.get_unchecked_mut(i) = rng.counter;
            E::observe(t.params, &s, obs.get_unchecked_mut(i * o..i * o + o));
            let el = *elapsed.get_unchecked(i) + 1;
            *elapsed.get_unchecked_mut(i) = el;
            *reward.get_unchecked_mut(i) = r;
            *terminated.get_unchecked_mut(i) = term as u32;
            *truncated.get_unchecked_mut(i) = (el >= t.max_steps) as u32;
            *ep_return.get_unchecked_mut(i) += r;
            *ep_length.get_unchecked_mut(i) += 1;
        }
    }
}

/// Pass two: envs that finished record their episode, keep their last observation and start anew.
#[inline(always)]
fn autoreset<E: Env>(t: &Task<'_, E>, c: &mut Chunk<'_, E>) {
    let n = c.len();
    // Most envs go on: skip whole groups of 16 with one vectorised test.
    let done = |c: &Chunk<'_, E>, i: usize| c.terminated[i] | c.truncated[i] != 0;
    let mut i = 0;
    while i < n {
        if i + 16 <= n && !(i..i + 16).any(|j| done(c, j)) {
            i += 16;
            continue;
        }
        if done(c, i) {
            reset_one(t, c, i);
        }
        i += 1;
    }
}

#[inline(always)]
fn reset_one<E: Env>(t: &Task<'_, E>, c: &mut Chunk<'_, E>, i: usize) {
    let o = E::OBS_DIM;
    c.final_obs[i * o..i * o + o].copy_from_slice(&c.obs[i * o..i * o + o]);
    c.done_count[i] += 1;
    c.done_return[i] += c.ep_return[i];
    c.done_length[i] += c.ep_length[i];
    c.ep_return[i] = 0.0;
    c.ep_length[i] = 0;
    c.elapsed[i] = 0;
    let mut rng = Stream { key: c.key[i], counter: c.counter[i] };
    let s = E::reset(t.params, &mut rng);
    c.counter[i] = rng.counter;
    c.state[i] = s;
    E::observe(t.params, &s, &mut c.obs[i * o..i * o + o]);
}

impl<E: Env> CpuBatch<E> {
    /// A batch of `num_envs` zeroed envs; an allocation the host refuses is an [`Error::OutOfMemory`], not an
    /// abort.
    pub(crate) fn new(params: E::Params, spec: &EnvSpec, num_envs: usize) -> Result<Self> {
        let n = num_envs;
        let o = E::OBS_DIM;
        assert_eq!(o, spec.obs_dim(), "{}: Env::OBS_DIM disagrees with the observation space", spec.id);
        let zeros_f = |len: usize, what: &str| try_filled(len, 0.0f32, what);
        let zeros_u = |len: usize, what: &str| try_filled(len, 0u32, what);
        let obs_len = n
            .checked_mul(o)
            .ok_or_else(|| Error::OutOfMemory(format!("{n} observations of {o} values overflow the address space")))?;
        let b = Buffers {
            state: try_filled(n, bytemuck::Zeroable::zeroed(), "the CPU batch's state")?,
            obs: zeros_f(obs_len, "the CPU batch's observations")?,
            final_obs: zeros_f(obs_len, "the CPU batch's final observations")?,
            reward: zeros_f(n, "the CPU batch's rewards")?,
            terminated: zeros_u(n, "the CPU batch's terminated flags")?,
            truncated: zeros_u(n, "the CPU batch's truncated flags")?,
            elapsed: zeros_u(n, "the CPU batch's elapsed steps")?,
            key: zeros_u(n, "the CPU batch's rng keys")?,
            counter: zeros_u(n, "the CPU batch's rng counters")?,
            action_counter: zeros_u(n, "the CPU batch's action rng counters")?,
            ep_return: zeros_f(n, "the CPU batch's episode returns")?,
            ep_length: zeros_u(n, "the CPU batch's episode lengths")?,
            done_count: zeros_u(n, "the CPU batch's finished-episode counts")?,
            done_return: zeros_f(n, "the CPU batch's finished-episode returns")?,
            done_length: zeros_u(n, "the CPU batch's finished-episode lengths")?,
            actions: try_filled(n, E::Action::default(), "the CPU batch's actions")?,
        };
        Ok(Self { params, max_steps: spec.max_episode_steps, autoreset: true, status: 0, b, inline: false })
    }

    fn chunk(&mut self) -> Chunk<'_, E> {
        let b = &mut self.b;
        Chunk {
            state: &mut b.state,
            obs: &mut b.obs,
            final_obs: &mut b.final_obs,
            reward: &mut b.reward,
            terminated: &mut b.terminated,
            truncated: &mut b.truncated,
            elapsed: &mut b.elapsed,
            key: &mut b.key,
            counter: &mut b.counter,
            action_counter: &mut b.action_counter,
            ep_return: &mut b.ep_return,
            ep_length: &mut b.ep_length,
            done_count: &mut b.done_count,
            done_return: &mut b.done_return,
            done_length: &mut b.done_length,
            actions: &mut b.actions,
        }
    }

    fn run(&mut self, steps: u32, random: bool) {
        let params = self.params;
        let task = Task::<E> { params: &params, max_steps: self.max_steps, autoreset: self.autoreset, steps, random };
        if !self.inline {
            return par_chunks(self.chunk(), &task);
        }
        // Chunks are independent: stepping them one after another gives what rayon's split gives.
        let mut rest = self.chunk();
        while rest.len() > CHUNK {
            let (mut head, tail) = rest.split_at(CHUNK);
            task.run(&mut head);
            rest = tail;
        }
        task.run(&mut rest);
    }
}

impl<E: Env> BatchKernel for CpuBatch<E> {
    fn reset(&mut self, seed: u64) -> Result<()> {
        let p = self.params;
        let o = E::OBS_DIM;
        let b = &mut self.b;
        for i in 0..b.state.len() {
            let mut rng = Stream { key: rng::stream_key(seed, i as u32), counter: 0 };
            b.state[i] = E::reset(&p, &mut rng);
            E::observe(&p, &b.state[i], &mut b.obs[i * o..i * o + o]);
            b.key[i] = rng.key;
            b.counter[i] = rng.counter;
        }
        for v in [&mut b.reward, &mut b.ep_return, &mut b.done_return] {
            v.fill(0.0);
        }
        for v in [
            &mut b.terminated,
            &mut b.truncated,
            &mut b.elapsed,
            &mut b.action_counter,
            &mut b.ep_length,
            &mut b.done_count,
            &mut b.done_length,
        ] {
            v.fill(0);
        }
        b.final_obs.fill(0.0);
        self.status = 0;
        Ok(())
    }

    fn step(&mut self, actions: &DeviceBuffer) -> Result<()> {
        // Irrefutable when no GPU backend is compiled in.
        #[allow(irrefutable_let_patterns)]
        let BufferInner::Cpu(words) = &actions.inner
        else {
            return Err(Error::Shape("actions are not a CPU buffer".into()));
        };
        let actions: &[E::Action] = bytemuck::cast_slice(words.as_slice());
        if let Some(i) = actions.iter().position(|a| !E::valid_action(&self.params, a)) {
            return Err(Error::InvalidAction(format!(
                "env {i} got action {} which is outside the action space",
                words[i]
            )));
        }
        self.b.actions.copy_from_slice(actions);
        self.run(1, false);
        Ok(())
    }

    fn step_random(&mut self, steps: u32) -> Result<()> {
        self.run(steps, true);
        Ok(())
    }

    fn set_autoreset(&mut self, on: bool) -> Result<()> {
        self.autoreset = on;
        Ok(())
    }

    fn set_inline(&mut self, inline: bool) {
        self.inline = inline;
    }

    fn set_state(&mut self, state: &[f32], elapsed: &[u32]) -> Result<()> {
        let states: &mut [f32] = bytemuck::cast_slice_mut(self.b.state.as_mut_slice());
        states.copy_from_slice(state);
        self.b.elapsed.copy_from_slice(elapsed);
        let o = E::OBS_DIM;
        for i in 0..self.b.state.len() {
            E::observe(&self.params, &self.b.state[i], &mut self.b.obs[i * o..i * o + o]);
        }
        Ok(())
    }

    fn write(&mut self, field: Field, words: &[u32]) -> Result<()> {
        let b = &mut self.b;
        let f = |dst: &mut [f32]| dst.iter_mut().zip(words).for_each(|(d, w)| *d = f32::from_bits(*w));
        match field {
            Field::State => f(bytemuck::cast_slice_mut(b.state.as_mut_slice())),
            Field::Obs => f(&mut b.obs),
            Field::FinalObs => f(&mut b.final_obs),
            Field::Reward => f(&mut b.reward),
            Field::Terminated => b.terminated.copy_from_slice(words),
            Field::Truncated => b.truncated.copy_from_slice(words),
            Field::Elapsed => b.elapsed.copy_from_slice(words),
            Field::EpisodeReturn => f(&mut b.ep_return),
            Field::EpisodeLength => b.ep_length.copy_from_slice(words),
            Field::DoneCount => b.done_count.copy_from_slice(words),
            Field::DoneReturn => f(&mut b.done_return),
            Field::DoneLength => b.done_length.copy_from_slice(words),
            Field::RngCounter => b.counter.copy_from_slice(words),
        }
        Ok(())
    }

    fn read(&self, field: Field) -> Result<Vec<u32>> {
        let b = &self.b;
        let f = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
        Ok(match field {
            Field::State => f(bytemuck::cast_slice(b.state.as_slice())),
            Field::Obs => f(&b.obs),
            Field::FinalObs => f(&b.final_obs),
            Field::Reward => f(&b.reward),
            Field::Terminated => b.terminated.clone(),
            Field::Truncated => b.truncated.clone(),
            Field::Elapsed => b.elapsed.clone(),
            Field::EpisodeReturn => f(&b.ep_return),
            Field::EpisodeLength => b.ep_length.clone(),
            Field::DoneCount => b.done_count.clone(),
            Field::DoneReturn => f(&b.done_return),
            Field::DoneLength => b.done_length.clone(),
            Field::RngCounter => b.counter.clone(),
        })
    }

    fn clear_done_stats(&mut self) -> Result<()> {
        self.b.done_count.fill(0);
        self.b.done_return.fill(0.0);
        self.b.done_length.fill(0);
        Ok(())
    }

    fn status(&self) -> Result<u32> {
        Ok(self.status)
    }
}
