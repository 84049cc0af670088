//! One Atari env: an emulator plus, when configured, the preprocessing of Gymnasium's `AtariPreprocessing` and
//! the DeepMind wrappers, writing each observation straight into the caller's buffer.
//!
//! Raw step (Gymnasium's `AtariEnv`): the action is held for `frameskip` frames and the rewards summed;
//! `terminated` is ALE's game over, `truncated` the frame cap (`max_num_frames_per_episode`) or the TimeLimit.
//!
//! Preprocessed step, on a frameskip-1 emulator, in Gymnasium's order: for each of `frame_skip` frames act,
//! add the reward, and stop early on game over, frame cap or (with `terminal_on_life_loss`) a lost life; the
//! grayscale/RGB screens of the second-to-last and last frames are kept (not refreshed when the loop stopped
//! early, as in Gymnasium), their pixel-wise max is resized to `screen_size`² by area interpolation and pushed
//! onto the frame stack. After `max_episode_steps` agent steps in one game the step is truncated.
//!
//! Reset: ALE's reset, then `1..=noop_max` single no-op frames (resetting again on a game over), then steps with
//! actions 1 (FIRE) and 2 with `fire_reset`. After a life-loss termination the game is not reset: the next episode goes on
//! from the current frame (after the FIRE steps with `fire_reset`), as DeepMind's `EpisodicLifeEnv` does.

use crate::ale::{Emulator, EmulatorSettings, EmulatorState, FIRE, LEGAL_ACTIONS, NOOP, RAM_BYTES, SCREEN_BYTES};
use crate::config::{AtariConfig, ObsType, Preprocessing};
use crate::resize::{max_pool, AreaResize};
use crate::roms::Rom;
use myriad_envs::rng::{mix32, stream_key, Stream};
use myriad_envs::Result;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Everything an [`AtariEnv`] needs to continue where it was: the emulator, the two kept screens (a step that
/// ends early max-pools a stale one, as Gymnasium does), the frame stack, the current observation when there is
/// no preprocessing (ALE does not save its screen), and the counters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AtariEnvState {
    pub emulator: EmulatorState,
    pub screens: [Vec<u8>; 2],
    pub stack: Vec<u8>,
    pub head: usize,
    pub raw_obs: Vec<u8>,
    pub lives: i32,
    pub steps: u32,
    pub game_return: f32,
    pub game_length: u32,
    /// The no-op stream: its key and how many draws it has made.
    pub noops: (u32, u32),
}

/// What one step produced besides the observation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Transition {
    /// The reward the learner sees (clipped to its sign with `clip_rewards`).
    pub reward: f32,
    pub terminated: bool,
    pub truncated: bool,
    /// The game (not just a life) ended with this step: `game_return` and `game_length` are final.
    pub game_over: bool,
    /// Unclipped score of the current game so far.
    pub game_return: f32,
    /// Agent steps of the current game so far.
    pub game_length: u32,
}

/// One emulator with its preprocessing state.
pub struct AtariEnv {
    emulator: Emulator,
    config: Arc<AtariConfig>,
    /// Action index → ALE action id.
    actions: Vec<u8>,
    noops: Stream,
    /// Full screens of the last (`[0]`) and second-to-last (`[1]`) frame of a step.
    screens: [Vec<u8>; 2],
    pooled: Vec<u8>,
    resize: Option<AreaResize>,
    /// `frame_stack` resized frames, a ring whose oldest frame is at `head`.
    stack: Vec<u8>,
    head: usize,
    lives: i32,
    /// Agent steps of this game (preprocessing cap) or of this episode (raw TimeLimit).
    steps: u32,
    game_return: f32,
    game_length: u32,
}

impl AtariEnv {
    /// Loads the game; env `index` of a batch seeded with `seed` gets ALE random seed and no-op draws of its own.
    pub fn new(config: Arc<AtariConfig>, rom: &Rom, seed: u64, index: u32) -> Result<AtariEnv> {
        let key = stream_key(seed, index);
        AtariEnv::open(config, rom, (key & 0x7fff_ffff) as i32, mix32(key ^ 0x6e6f_6f70))
    }

    /// Loads the game with ALE random seed `random_seed`; `noop_key` keys the no-op draws.
    pub fn open(config: Arc<AtariConfig>, rom: &Rom, random_seed: i32, noop_key: u32) -> Result<AtariEnv> {
        let settings = EmulatorSettings {
            random_seed,
            repeat_action_probability: config.ale.repeat_action_probability,
            mode: config.ale.mode,
            difficulty: config.ale.difficulty,
        };
        let emulator = Emulator::open(rom, &settings)?;
        let actions = if config.ale.full_action_space {
            (0..LEGAL_ACTIONS as u8).collect()
        } else {
            emulator.minimal_actions().to_vec()
        };
        let grayscale = config.preprocessing.as_ref().map_or(true, |p| p.grayscale);
        let screen_len = if grayscale { SCREEN_BYTES } else { 3 * SCREEN_BYTES };
        let (resize, stack_len) = match &config.preprocessing {
            Some(p) => {
                let s = p.screen_size as usize;
                let r = AreaResize::new((210, 160), (s, s), if p.grayscale { 1 } else { 3 });
                let stack_len = r.output_len() * p.frame_stack as usize;
                (Some(r), stack_len)
            }
            None => (None, 0),
        };
        if let Some(p) = &config.preprocessing {
            if p.fire_reset && !(actions.len() >= 3 && actions[1] == FIRE) {
                return Err(myriad_envs::Error::BadConfigValue {
                    env: rom.game.id(),
                    key: "fire_reset".into(),
                    reason: "this game has no FIRE as its second action; it does not wait for FIRE".into(),
                });
            }
        }
        Ok(AtariEnv {
            emulator,
            actions,
            noops: Stream { key: noop_key, counter: 0 },
            screens: [vec![0; screen_len], vec![0; screen_len]],
            pooled: vec![0; screen_len],
            resize,
            stack: vec![0; stack_len],
            head: 0,
            lives: 0,
            steps: 0,
            game_return: 0.0,
            game_length: 0,
            config: config.clone(),
        })
    }

    /// Actions this env accepts (`Discrete(n)`).
    pub fn num_actions(&self) -> usize {
        self.actions.len()
    }

    /// The ALE action ids behind the action indices.
    pub fn action_ids(&self) -> &[u8] {
        &self.actions
    }

    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    fn preprocessing(&self) -> Option<&Preprocessing> {
        self.config.preprocessing.as_ref()
    }

    fn grab(&mut self, which: usize) {
        let screen = &mut self.screens[which];
        if screen.len() == SCREEN_BYTES {
            self.emulator.screen_grayscale(screen);
        } else {
            self.emulator.screen_rgb(screen);
        }
    }

    fn frame_cap_reached(&self) -> bool {
        let cap = self.config.ale.max_num_frames_per_episode;
        cap > 0 && self.emulator.episode_frame_number() >= cap as i32
    }

    /// Resets the game and writes the first observation into `obs`.
    pub fn reset(&mut self, obs: &mut [u8]) {
        self.emulator.reset();
        self.steps = 0;
        self.game_return = 0.0;
        self.game_length = 0;
        let Some(p) = self.preprocessing().cloned() else {
            self.observe_raw(obs);
            return;
        };
        if p.noop_max > 0 {
            let n = 1 + self.noops.below(p.noop_max);
            for _ in 0..n {
                self.emulator.act(NOOP);
                if self.emulator.game_over() || self.frame_cap_reached() {
                    self.emulator.reset();
                }
            }
        }
        self.fire(&p);
        self.lives = self.emulator.lives();
        self.grab(0);
        self.screens[1].fill(0);
        self.push_frame(&p, true);
        self.write_stack(obs);
    }

    /// Action 1 (FIRE) then action 2, each held for a whole agent step, resetting on a game over (DeepMind's
    /// `FireResetEnv`).
    fn fire(&mut self, p: &Preprocessing) {
        if !p.fire_reset {
            return;
        }
        for action in [self.actions[1], self.actions[2]] {
            for _ in 0..p.frame_skip {
                self.emulator.act(action);
            }
            if self.emulator.game_over() {
                self.emulator.reset();
            }
        }
    }

    /// Steps with action index `action` (< `num_actions()`) and writes the observation into `obs`.
    pub fn step(&mut self, action: u32, obs: &mut [u8]) -> Transition {
        let ale_action = self.actions[action as usize];
        match self.preprocessing().cloned() {
            None => self.step_raw(ale_action, obs),
            Some(p) => self.step_preprocessed(&p, ale_action, obs),
        }
    }

    fn step_raw(&mut self, action: u8, obs: &mut [u8]) -> Transition {
        let mut reward = 0i32;
        for _ in 0..self.config.ale.frameskip {
            reward += self.emulator.act(action);
        }
        self.steps += 1;
        self.game_return += reward as f32;
        self.game_length += 1;
        let terminated = self.emulator.game_over();
        let limit = self.config.ale.max_episode_steps;
        let truncated = !terminated && (self.frame_cap_reached() || (limit > 0 && self.steps >= limit));
        self.observe_raw(obs);
        self.transition(reward, terminated, truncated, terminated || truncated)
    }

    fn step_preprocessed(&mut self, p: &Preprocessing, action: u8, obs: &mut [u8]) -> Transition {
        let mut reward = 0i32;
        let (mut game_over, mut life_lost, mut capped) = (false, false, false);
        for t in 0..p.frame_skip {
            reward += self.emulator.act(action);
            game_over = self.emulator.game_over();
            capped = self.frame_cap_reached();
            if p.terminal_on_life_loss {
                let lives = self.emulator.lives();
                life_lost = lives < self.lives;
                self.lives = lives;
            }
            if game_over || life_lost || capped {
                break;
            }
            if t + 2 == p.frame_skip {
                self.grab(1);
            } else if t + 1 == p.frame_skip {
                self.grab(0);
            }
        }
        self.steps += 1;
        self.game_return += reward as f32;
        self.game_length += 1;
        let truncated = !game_over && (capped || (p.max_episode_steps > 0 && self.steps >= p.max_episode_steps));
        self.push_frame(p, false);
        self.write_stack(obs);
        let learner_reward = if p.clip_rewards { reward.signum() } else { reward };
        self.transition(learner_reward, game_over || life_lost, truncated, game_over || truncated)
    }

    fn transition(&self, reward: i32, terminated: bool, truncated: bool, game_over: bool) -> Transition {
        Transition {
            reward: reward as f32,
            terminated,
            truncated: truncated && !terminated,
            game_over,
            game_return: self.game_return,
            game_length: self.game_length,
        }
    }

    /// Starts the next episode after a step that ended one, writing its first observation into `obs`: a full
    /// reset after a game over or truncation, otherwise (a lost life) the game goes on.
    pub fn next_episode(&mut self, ended: &Transition, obs: &mut [u8]) {
        if ended.game_over || self.preprocessing().is_none() {
            self.reset(obs);
            return;
        }
        let p = self.preprocessing().cloned().expect("life loss only ends preprocessed episodes");
        if p.fire_reset {
            self.fire(&p);
            self.lives = self.emulator.lives();
            self.grab(0);
            self.screens[1].fill(0);
            self.push_frame(&p, false);
        }
        self.write_stack(obs);
    }

    /// Saves this env's state; `obs` is its current observation (the batch's row for it).
    pub fn save(&self, obs: &[u8]) -> AtariEnvState {
        AtariEnvState {
            emulator: self.emulator.save_state(),
            screens: self.screens.clone(),
            stack: self.stack.clone(),
            head: self.head,
            raw_obs: if self.preprocessing().is_none() { obs.to_vec() } else { Vec::new() },
            lives: self.lives,
            steps: self.steps,
            game_return: self.game_return,
            game_length: self.game_length,
            noops: (self.noops.key, self.noops.counter),
        }
    }

    /// Continues from a state saved by an env of the same config, writing its observation into `obs`. States
    /// whose sizes do not fit this env's config are an error.
    pub fn load(&mut self, state: &AtariEnvState, obs: &mut [u8]) -> Result<()> {
        let depth = self.preprocessing().map_or(1, |p| p.frame_stack as usize);
        let raw_len = if self.preprocessing().is_none() { obs.len() } else { 0 };
        let fits = state.screens.iter().all(|s| s.len() == self.screens[0].len())
            && state.stack.len() == self.stack.len()
            && state.head < depth
            && state.raw_obs.len() == raw_len;
        if !fits {
            return Err(myriad_envs::Error::Shape(format!(
                "a saved {} env state does not fit this config (screens, frame stack or observation sizes differ)",
                self.emulator.game()
            )));
        }
        self.emulator.restore_state(&state.emulator)?;
        for (screen, saved) in self.screens.iter_mut().zip(&state.screens) {
            screen.copy_from_slice(saved);
        }
        self.stack.copy_from_slice(&state.stack);
        self.head = state.head;
        self.lives = state.lives;
        self.steps = state.steps;
        self.game_return = state.game_return;
        self.game_length = state.game_length;
        (self.noops.key, self.noops.counter) = state.noops;
        if self.preprocessing().is_none() {
            obs.copy_from_slice(&state.raw_obs);
        } else {
            self.write_stack(obs);
        }
        Ok(())
    }

    fn observe_raw(&mut self, obs: &mut [u8]) {
        match self.config.ale.obs_type {
            ObsType::Rgb => self.emulator.screen_rgb(obs),
            ObsType::Grayscale => self.emulator.screen_grayscale(obs),
            ObsType::Ram => {
                let mut ram = [0u8; RAM_BYTES];
                self.emulator.ram(&mut ram);
                obs.copy_from_slice(&ram);
            }
        }
    }

    /// Max-pools the two kept screens (when skipping frames), resizes, and pushes the frame onto the stack;
    /// `fill` repeats it through the whole stack (after a reset, like Gymnasium's `FrameStackObservation`).
    fn push_frame(&mut self, p: &Preprocessing, fill: bool) {
        let source = if p.frame_skip > 1 {
            max_pool(&self.screens[0], &self.screens[1], &mut self.pooled);
            &self.pooled
        } else {
            &self.screens[0]
        };
        let resize = self.resize.as_ref().expect("preprocessing has a resize");
        let frame = resize.output_len();
        let depth = p.frame_stack as usize;
        if fill {
            let (first, rest) = self.stack.split_at_mut(frame);
            resize.apply(source, first);
            for chunk in rest.chunks_mut(frame) {
                chunk.copy_from_slice(first);
            }
            self.head = 0;
        } else {
            resize.apply(source, &mut self.stack[self.head * frame..(self.head + 1) * frame]);
            self.head = (self.head + 1) % depth;
        }
    }

    fn write_stack(&self, obs: &mut [u8]) {
        let frame = self.stack.len() / self.preprocessing().map_or(1, |p| p.frame_stack as usize);
        let depth = self.stack.len() / frame.max(1);
        for k in 0..depth {
            let src = (self.head + k) % depth;
            obs[k * frame..(k + 1) * frame].copy_from_slice(&self.stack[src * frame..(src + 1) * frame]);
        }
    }
}
