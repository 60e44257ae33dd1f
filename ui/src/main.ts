// Entry point: mounts the app. The hub serves this bundle as a file (the CSP forbids inline script).

import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';

const target = document.getElementById('app');
if (!target) throw new Error('mitmlab: #app is missing from index.html');
export default mount(App, { target });
